//! The `keywords` step: the top key phrases of a chunk, by YAKE's statistics (Campos et al.,
//! 2020) over the chunk alone: no corpus, no model. A term weighs more when it is frequent
//! but not everywhere in the text, written with capitals inside sentences, early, and seen
//! beside few different words; a phrase of one to `max_ngram` such terms scores by their
//! product, divided by how often the phrase occurs. Stopwords of the chunk's language (the
//! ISO lists of the stop-words crate) end phrases. Languages written without spaces (Chinese,
//! Japanese, Thai) get no keywords.

use std::collections::{HashMap, HashSet};

/// Key phrases of `text`, best first, at most `top_n`, each of 1 to `max_ngram` words, lower
/// case. `lang` is the chunk's ISO 639-1 code, if known (English stopwords otherwise).
pub fn extract(text: &str, lang: Option<&str>, top_n: usize, max_ngram: usize) -> Vec<String> {
    if top_n == 0 || matches!(lang, Some("zh" | "ja" | "th" | "km" | "my")) {
        return Vec::new();
    }
    let stop = stopwords(lang.unwrap_or("en"));
    let sentences = sentences(text);
    let score = term_scores(&sentences);
    if score.is_empty() {
        return Vec::new();
    }
    let keep = |w: &str| {
        w.chars().count() >= 3 && !stop.contains(w) && !w.chars().all(|c| c.is_ascii_digit())
    };
    let phrases = candidates(&sentences, &score, &keep, max_ngram);
    select(phrases, top_n)
}

/// The stopwords of a language (English where the crate has none), built once per language
/// and kept: every chunk of a build asks for them.
fn stopwords(lang: &str) -> &'static HashSet<&'static str> {
    static SETS: std::sync::OnceLock<
        std::sync::Mutex<HashMap<String, &'static HashSet<&'static str>>>,
    > = std::sync::OnceLock::new();
    let build = || -> &'static HashSet<&'static str> {
        let words = stop_words::lookup(lang)
            .or_else(|| stop_words::lookup("en"))
            .unwrap_or(&[]);
        Box::leak(Box::new(words.iter().copied().collect()))
    };
    let mut sets = SETS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // one set per language code the detector gives (about seventy at most)
    sets.entry(lang.to_string()).or_insert_with(build)
}

/// A word and whether it is capitalised inside its sentence; `None` marks punctuation.
type Sentence = Vec<Option<(String, bool)>>;

/// Sentences of words; a word is a run of letters and digits (apostrophes and inner hyphens
/// kept). Punctuation inside a sentence breaks phrases.
fn sentences(text: &str) -> Vec<Sentence> {
    let mut sentences: Vec<Vec<Option<(String, bool)>>> = vec![Vec::new()];
    let mut word = String::new();
    let flush = |word: &mut String, sentences: &mut Vec<Vec<Option<(String, bool)>>>| {
        if !word.is_empty() {
            let w = word.trim_matches(['-', '\'']).to_string();
            if let Some(s) = sentences.last_mut().filter(|_| !w.is_empty()) {
                let first_in_sentence = s.iter().all(Option::is_none);
                let capital =
                    !first_in_sentence && w.chars().next().is_some_and(char::is_uppercase);
                s.push(Some((w, capital)));
            }
            word.clear();
        }
    };
    for c in text.chars() {
        if c.is_alphanumeric() || ((c == '-' || c == '\'') && !word.is_empty()) {
            word.push(c);
            continue;
        }
        flush(&mut word, &mut sentences);
        if matches!(c, '.' | '!' | '?' | '\n') {
            if sentences.last().is_some_and(|s| !s.is_empty()) {
                sentences.push(Vec::new());
            }
        } else if !c.is_whitespace() {
            if let Some(s) = sentences.last_mut() {
                s.push(None);
            }
        }
    }
    flush(&mut word, &mut sentences);

    sentences
}

/// YAKE's score of each term (lower case): lower is more important.
fn term_scores(sentences: &[Sentence]) -> HashMap<String, f64> {
    #[derive(Default)]
    struct Term {
        tf: f64,
        capital: f64,
        sentences: Vec<usize>,
        left: HashSet<String>,
        right: HashSet<String>,
    }
    let mut terms: HashMap<String, Term> = HashMap::new();
    for (si, s) in sentences.iter().enumerate() {
        for (i, w) in s.iter().enumerate() {
            let Some((w, capital)) = w else { continue };
            let key = w.to_lowercase();
            let t = terms.entry(key).or_default();
            t.tf += 1.0;
            t.capital += f64::from(u8::from(*capital));
            if t.sentences.last() != Some(&si) {
                t.sentences.push(si);
            }
            let near = |j: Option<usize>| {
                j.and_then(|j| s.get(j))
                    .and_then(|x| x.as_ref())
                    .map(|(x, _)| x.to_lowercase())
            };
            if let Some(l) = near(i.checked_sub(1)) {
                t.left.insert(l);
            }
            if let Some(r) = near(Some(i + 1)) {
                t.right.insert(r);
            }
        }
    }
    if terms.is_empty() {
        return HashMap::new();
    }
    let tfs: Vec<f64> = terms.values().map(|t| t.tf).collect();
    let mean = tfs.iter().sum::<f64>() / tfs.len() as f64;
    let sd = (tfs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / tfs.len() as f64).sqrt();
    let max_tf = tfs.iter().copied().fold(1.0, f64::max);
    let n_sent = sentences.len().max(1) as f64;
    terms
        .iter()
        .map(|(k, t)| {
            let casing = t.capital / (1.0 + t.tf.ln());
            let median = t.sentences[t.sentences.len() / 2] as f64;
            let position = (3.0 + median).ln().ln().max(0.01);
            let freq = t.tf / (mean + sd).max(1.0);
            let rel = 1.0 + (t.left.len() + t.right.len()) as f64 / (2.0 * t.tf) * (t.tf / max_tf);
            let spread = t.sentences.len() as f64 / n_sent;
            let s = (rel * position) / (casing + freq / rel + spread / rel);
            (k.clone(), s)
        })
        .collect()
}

/// Candidate phrases (runs of kept words, 1 to `max_ngram`) with their scores.
fn candidates(
    sentences: &[Sentence],
    score: &HashMap<String, f64>,
    keep: &dyn Fn(&str) -> bool,
    max_ngram: usize,
) -> Vec<(String, f64)> {
    let mut phrases: HashMap<String, (f64, f64)> = HashMap::new(); // phrase → (product, tf)
    for s in sentences {
        for start in 0..s.len() {
            let mut words: Vec<String> = Vec::new();
            for item in s.iter().skip(start).take(max_ngram.max(1)) {
                let Some((w, _)) = item else { break };
                let w = w.to_lowercase();
                if !keep(&w) {
                    break;
                }
                words.push(w);
                let phrase = words.join(" ");
                let (prod, sum) = words.iter().fold((1.0, 0.0), |(p, s), w| {
                    let v = score.get(w.as_str()).copied().unwrap_or(1.0);
                    (p * v, s + v)
                });
                let e = phrases.entry(phrase).or_insert((prod / (1.0 + sum), 0.0));
                e.1 += 1.0;
            }
        }
    }
    phrases
        .into_iter()
        .map(|(p, (base, tf))| (p, base / tf))
        .collect()
}

/// The best `top_n` phrases, none holding all the words of a better one (or all of its own
/// held by a better one).
fn select(mut ranked: Vec<(String, f64)>, top_n: usize) -> Vec<String> {
    ranked.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let mut out: Vec<String> = Vec::new();
    for (p, _) in ranked {
        let words: HashSet<&str> = p.split(' ').collect();
        let overlaps = out.iter().any(|q| {
            let qw: HashSet<&str> = q.split(' ').collect();
            words.is_subset(&qw) || qw.is_subset(&words)
        });
        if !overlaps {
            out.push(p);
        }
        if out.len() == top_n {
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subject_of_a_text_ranks_first_and_stopwords_never_appear() {
        let text = "Replication lag grows when the standby database falls behind. Watch \
                    replication lag on the dashboard, and promote the standby database only \
                    when replication lag is under ten seconds. The Grafana dashboard shows it.";
        let k = extract(text, Some("en"), 5, 3);
        assert!(!k.is_empty());
        assert!(
            k.iter()
                .take(3)
                .any(|p| p.contains("replication lag") || p.contains("standby database")),
            "{k:?}"
        );
        for p in &k {
            for w in p.split(' ') {
                assert!(
                    !["the", "and", "when", "is", "on", "it"].contains(&w),
                    "{k:?}"
                );
            }
        }
        assert!(k.len() <= 5);
    }

    #[test]
    fn other_languages_use_their_stopwords_and_cjk_gets_none() {
        let de = "Die Zertifikate müssen vor dem Ablauf erneuert werden. Danach wird der Dienst \
                  neu gestartet, damit er die neuen Zertifikate liest.";
        let k = extract(de, Some("de"), 3, 2);
        assert!(k.iter().any(|p| p.contains("zertifikate")), "{k:?}");
        assert!(k
            .iter()
            .all(|p| !p.split(' ').any(|w| w == "die" || w == "der")));
        assert!(extract(
            "証明書の有効期限が切れる前に更新してください。",
            Some("ja"),
            5,
            3
        )
        .is_empty());
        assert!(extract("", Some("en"), 5, 3).is_empty());
        assert!(extract("42 17 99", None, 5, 3).is_empty());
    }
}
