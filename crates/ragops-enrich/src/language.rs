//! The `language` step: an ISO 639-1 code and a confidence per document and per chunk, from
//! whatlang's trigram models (69 languages, no network, no model files). Measured against
//! lingua on paragraphs in 16 languages in `benches/lang.rs`.

use serde::{Deserialize, Serialize};

/// A detected language.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Language {
    /// ISO 639-1 code (`en`, `de`, `zh`...).
    pub code: String,
    /// whatlang's confidence, 0 to 1.
    pub confidence: f32,
}

/// Text longer than this is sampled: its first and middle parts are enough to tell a
/// document's language, and the cost stays flat however long the document.
const SAMPLE_BYTES: usize = 4096;

/// Fewer letters than this and the guess is not kept (a title, a table of numbers).
const MIN_LETTERS: usize = 12;

/// The language of `text`, or `None` when there is too little text or whatlang cannot tell.
pub fn detect(text: &str) -> Option<Language> {
    let sample = sample(text);
    if sample.chars().filter(|c| c.is_alphabetic()).count() < MIN_LETTERS {
        return None;
    }
    let info = whatlang::detect(&sample)?;
    Some(Language {
        code: iso_639_1(info.lang()).to_string(),
        confidence: info.confidence() as f32,
    })
}

/// The language of a chunk: its own when it can be told with some confidence, else its
/// document's (a short chunk, a code block, a list of names).
pub fn for_chunk(text: &str, document: Option<&Language>) -> Option<Language> {
    match detect(text) {
        Some(l) if l.confidence >= 0.5 || document.is_none() => Some(l),
        Some(l) if document.is_some_and(|d| d.code == l.code) => Some(l),
        _ => document.cloned(),
    }
}

/// At most [`SAMPLE_BYTES`]: the start of the text and a piece of its middle, cut on char
/// boundaries.
fn sample(text: &str) -> std::borrow::Cow<'_, str> {
    if text.len() <= SAMPLE_BYTES {
        return text.into();
    }
    let floor = |mut i: usize| {
        while !text.is_char_boundary(i) {
            i -= 1;
        }
        i
    };
    let half = SAMPLE_BYTES / 2;
    let mid = floor(text.len() / 2);
    let head = &text[..floor(half)];
    let middle = &text[mid..floor((mid + half).min(text.len()))];
    format!("{head} {middle}").into()
}

/// ISO 639-1 code of a whatlang language (whatlang speaks ISO 639-3).
fn iso_639_1(lang: whatlang::Lang) -> &'static str {
    use whatlang::Lang::*;
    match lang {
        Epo => "eo",
        Eng => "en",
        Rus => "ru",
        Cmn => "zh",
        Spa => "es",
        Por => "pt",
        Ita => "it",
        Ben => "bn",
        Fra => "fr",
        Deu => "de",
        Ukr => "uk",
        Kat => "ka",
        Ara => "ar",
        Hin => "hi",
        Jpn => "ja",
        Heb => "he",
        Yid => "yi",
        Pol => "pl",
        Amh => "am",
        Jav => "jv",
        Kor => "ko",
        Nob => "nb",
        Dan => "da",
        Swe => "sv",
        Fin => "fi",
        Tur => "tr",
        Nld => "nl",
        Hun => "hu",
        Ces => "cs",
        Ell => "el",
        Bul => "bg",
        Bel => "be",
        Mar => "mr",
        Kan => "kn",
        Ron => "ro",
        Slv => "sl",
        Hrv => "hr",
        Srp => "sr",
        Mkd => "mk",
        Lit => "lt",
        Lav => "lv",
        Est => "et",
        Tam => "ta",
        Vie => "vi",
        Urd => "ur",
        Tha => "th",
        Guj => "gu",
        Uzb => "uz",
        Pan => "pa",
        Aze => "az",
        Ind => "id",
        Tel => "te",
        Pes => "fa",
        Mal => "ml",
        Ori => "or",
        Mya => "my",
        Nep => "ne",
        Sin => "si",
        Khm => "km",
        Tuk => "tk",
        Aka => "ak",
        Zul => "zu",
        Sna => "sn",
        Afr => "af",
        Lat => "la",
        Slk => "sk",
        Cat => "ca",
        Tgl => "tl",
        Hye => "hy",
        Cym => "cy",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_get_their_iso_639_1_code() {
        for (code, text) in [
            ("en", "Rotate the TLS certificates before they expire, then restart the proxy."),
            ("de", "Die Zertifikate müssen vor dem Ablauf erneuert und der Dienst neu gestartet werden."),
            ("fr", "Les certificats doivent être renouvelés avant leur expiration, puis le service redémarré."),
            ("es", "Los certificados deben renovarse antes de que caduquen y luego hay que reiniciar el servicio."),
            ("ja", "証明書の有効期限が切れる前に更新し、その後サービスを再起動してください。"),
            ("ru", "Сертификаты нужно обновить до истечения срока действия, а затем перезапустить службу. Это занимает несколько минут, и пользователи ничего не заметят."),
        ] {
            let l = detect(text).unwrap_or_else(|| panic!("{text}"));
            assert_eq!(l.code, code, "{text}");
            assert!(l.confidence > 0.0 && l.confidence <= 1.0);
        }
    }

    #[test]
    fn too_little_text_is_not_guessed_and_chunks_fall_back_to_their_document() {
        assert_eq!(detect("42 17 99"), None);
        assert_eq!(detect("Hi"), None);
        let doc = detect("Die Zertifikate müssen vor dem Ablauf erneuert werden.").unwrap();
        let c = for_chunk("| 1 | 2 |", Some(&doc)).unwrap();
        assert_eq!(c.code, "de");
    }

    #[test]
    fn long_texts_are_sampled_on_char_boundaries() {
        let text = "é".repeat(100) + &" Die Zertifikate müssen erneuert werden.".repeat(200);
        let s = sample(&text);
        assert!(s.len() <= SAMPLE_BYTES + 1, "{}", s.len());
        assert!(s.starts_with('é'));
        assert_eq!(detect(&text).map(|l| l.code), Some("de".into()));
    }
}
