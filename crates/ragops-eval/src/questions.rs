//! Question sets: span-level JSONL, the BEIR layout, and conversion of the chunking-evaluation
//! CSV (`questions_df.csv`) into span-level JSONL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::metrics::Span;
use crate::EvalError;

/// One question with its judgments.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Question {
    pub id: String,
    pub query: String,
    /// Document id -> relevance grade (> 0 is relevant).
    pub grades: BTreeMap<String, u32>,
    /// Reference excerpts (span-level sets only).
    pub spans: Vec<Span>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SetKind {
    /// JSONL with character spans.
    Span,
    /// BEIR directory (document-level graded qrels).
    Beir,
}

#[derive(Debug, Clone, Serialize)]
pub struct QuestionSet {
    pub path: PathBuf,
    pub kind: SetKind,
    pub questions: Vec<Question>,
}

impl QuestionSet {
    /// Every document id any question judges.
    pub fn doc_ids(&self) -> std::collections::HashSet<&str> {
        self.questions
            .iter()
            .flat_map(|q| q.grades.keys().map(String::as_str))
            .collect()
    }
}

fn read(path: &Path) -> Result<String, EvalError> {
    std::fs::read_to_string(path).map_err(|source| EvalError::Io {
        path: path.to_path_buf(),
        source,
    })
}

fn bad(path: &Path, line: usize, message: impl Into<String>) -> EvalError {
    EvalError::Format {
        path: path.to_path_buf(),
        line,
        message: message.into(),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SpanLine {
    #[serde(default)]
    id: Option<String>,
    query: String,
    relevant: Vec<Judgment>,
}

#[derive(Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Judgment {
    doc_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    end: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    grade: Option<u32>,
}

/// Loads a question set: a directory in the BEIR layout, or a span-level JSONL file
/// (`{"query": ..., "relevant": [{"doc_id": ..., "start": .., "end": ..}]}` per line;
/// `start`/`end` are character offsets into the document text; a judgment without them is
/// document-level, with an optional `grade`).
pub fn load(path: &Path) -> Result<QuestionSet, EvalError> {
    if path.is_dir() {
        return load_beir(path);
    }
    let text = read(path)?;
    let mut questions = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let l: SpanLine =
            serde_json::from_str(line).map_err(|e| bad(path, i + 1, e.to_string()))?;
        let mut q = Question {
            id: l.id.unwrap_or_else(|| format!("q{}", questions.len() + 1)),
            query: l.query,
            grades: BTreeMap::new(),
            spans: Vec::new(),
        };
        for j in l.relevant {
            match (j.start, j.end) {
                (Some(s), Some(e)) if e > s => q.spans.push(Span {
                    doc_id: j.doc_id.clone(),
                    start: s,
                    end: e,
                }),
                (None, None) => {}
                _ => return Err(bad(path, i + 1, "a span needs start < end")),
            }
            let g = q.grades.entry(j.doc_id).or_insert(0);
            *g = (*g).max(j.grade.unwrap_or(1));
        }
        questions.push(q);
    }
    if questions.is_empty() {
        return Err(bad(path, 0, "no questions"));
    }
    Ok(QuestionSet {
        path: path.to_path_buf(),
        kind: SetKind::Span,
        questions,
    })
}

/// BEIR: `queries.jsonl` (`_id`, `text`), `qrels/test.tsv` (query-id, corpus-id, score; header
/// line). The corpus (`corpus.jsonl`) is indexed as a JSONL source, not read here.
fn load_beir(dir: &Path) -> Result<QuestionSet, EvalError> {
    let qpath = dir.join("queries.jsonl");
    let mut queries = BTreeMap::new();
    for (i, line) in read(&qpath)?.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| bad(&qpath, i + 1, e.to_string()))?;
        let id = match &v["_id"] {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Number(n) => n.to_string(),
            _ => return Err(bad(&qpath, i + 1, "missing `_id`")),
        };
        let text = v["text"]
            .as_str()
            .ok_or_else(|| bad(&qpath, i + 1, "missing `text`"))?;
        queries.insert(id, text.to_string());
    }
    let rpath = dir.join("qrels").join("test.tsv");
    let mut qrels: BTreeMap<String, BTreeMap<String, u32>> = BTreeMap::new();
    for (i, line) in read(&rpath)?.lines().enumerate() {
        let cols: Vec<&str> = line.split('\t').collect();
        if line.trim().is_empty() || (i == 0 && cols.first() == Some(&"query-id")) {
            continue;
        }
        let [q, d, score] = cols[..] else {
            return Err(bad(
                &rpath,
                i + 1,
                "expected query-id<TAB>corpus-id<TAB>score",
            ));
        };
        let score: i64 = score
            .trim()
            .parse()
            .map_err(|_| bad(&rpath, i + 1, format!("score `{score}` is not an integer")))?;
        qrels
            .entry(q.to_string())
            .or_default()
            .insert(d.to_string(), score.max(0) as u32);
    }
    let questions = qrels
        .into_iter()
        .filter_map(|(qid, grades)| {
            queries.get(&qid).map(|text| Question {
                id: qid.clone(),
                query: text.clone(),
                grades,
                spans: Vec::new(),
            })
        })
        .collect::<Vec<_>>();
    if questions.is_empty() {
        return Err(bad(&rpath, 0, "no judged query found in queries.jsonl"));
    }
    Ok(QuestionSet {
        path: dir.to_path_buf(),
        kind: SetKind::Beir,
        questions,
    })
}

/// Splits CSV text into records (RFC 4180: quoted fields, `""` escapes, newlines in quotes).
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, '\r') => {}
            (false, c) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// Result of converting the chunking-evaluation question set.
#[derive(Debug, Clone, Serialize)]
pub struct Conversion {
    pub questions: usize,
    pub references: usize,
    /// References whose `content` is not the corpus text at their offsets (kept, reported).
    pub mismatched: Vec<String>,
    pub jsonl: String,
}

#[derive(Deserialize)]
struct CsvReference {
    content: String,
    start_index: u64,
    end_index: u64,
}

/// Converts `questions_df.csv` (columns question, references, corpus_id; references a JSON list
/// of `{content, start_index, end_index}` in characters of `corpora/<corpus_id>.md`) into
/// span-level JSONL whose document ids are `<corpus_id>.md`, checking every excerpt against the
/// corpus text.
pub fn convert_chunking_eval(dir: &Path) -> Result<Conversion, EvalError> {
    let csv = dir.join("questions_df.csv");
    let rows = parse_csv(&read(&csv)?);
    let header = rows.first().ok_or_else(|| bad(&csv, 1, "empty file"))?;
    let col = |name: &str| {
        header
            .iter()
            .position(|h| h.trim() == name)
            .ok_or_else(|| bad(&csv, 1, format!("no `{name}` column")))
    };
    let (qc, rc, cc) = (col("question")?, col("references")?, col("corpus_id")?);
    let mut corpora: BTreeMap<String, Vec<char>> = BTreeMap::new();
    let mut out = String::new();
    let mut conv = Conversion {
        questions: 0,
        references: 0,
        mismatched: Vec::new(),
        jsonl: String::new(),
    };
    for (i, row) in rows.iter().enumerate().skip(1) {
        let line = i + 1;
        if row.iter().all(|f| f.trim().is_empty()) {
            continue;
        }
        let get = |c: usize| {
            row.get(c)
                .ok_or_else(|| bad(&csv, line, format!("missing column {}", c + 1)))
        };
        let corpus = get(cc)?.trim().to_string();
        let doc_id = format!("{corpus}.md");
        if !corpora.contains_key(&corpus) {
            let path = dir.join("corpora").join(&doc_id);
            corpora.insert(corpus.clone(), read(&path)?.chars().collect());
        }
        let text = &corpora[&corpus];
        let refs: Vec<CsvReference> = serde_json::from_str(get(rc)?)
            .map_err(|e| bad(&csv, line, format!("references: {e}")))?;
        let mut relevant = Vec::new();
        for r in refs {
            let (s, e) = (r.start_index as usize, r.end_index as usize);
            let found: Option<String> =
                (e <= text.len() && s < e).then(|| text[s..e].iter().collect());
            if found.as_deref() != Some(r.content.as_str()) {
                conv.mismatched
                    .push(format!("{}:{line} [{s}, {e})", csv.display()));
            }
            relevant.push(Judgment {
                doc_id: doc_id.clone(),
                start: Some(r.start_index),
                end: Some(r.end_index),
                grade: None,
            });
            conv.references += 1;
        }
        conv.questions += 1;
        let v = serde_json::json!({
            "id": format!("{corpus}-{}", conv.questions),
            "query": get(qc)?,
            "relevant": relevant,
        });
        out.push_str(&v.to_string());
        out.push('\n');
    }
    conv.jsonl = out;
    Ok(conv)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_escapes_and_newlines() {
        let rows = parse_csv("a,b,c\n\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\"\r\n1,,3");
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[1], vec!["x, y", "say \"hi\"", "two\nlines"]);
        assert_eq!(rows[2], vec!["1", "", "3"]);
    }

    #[test]
    fn converts_and_checks_excerpts() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("corpora")).unwrap();
        std::fs::write(
            tmp.path().join("corpora/c.md"),
            "Ünïcode text: the answer is 42.",
        )
        .unwrap();
        let refs = r#"[{""content"": ""the answer is 42"", ""start_index"": 14, ""end_index"": 30}, {""content"": ""nope"", ""start_index"": 0, ""end_index"": 4}]"#;
        std::fs::write(
            tmp.path().join("questions_df.csv"),
            format!("question,references,corpus_id\n\"What, is it?\",\"{refs}\",c\n"),
        )
        .unwrap();
        let c = convert_chunking_eval(tmp.path()).unwrap();
        assert_eq!((c.questions, c.references), (1, 2));
        assert_eq!(
            c.mismatched.len(),
            1,
            "the second excerpt is not at its offsets"
        );
        let path = tmp.path().join("q.jsonl");
        std::fs::write(&path, &c.jsonl).unwrap();
        let set = load(&path).unwrap();
        assert_eq!(set.kind, SetKind::Span);
        let q = &set.questions[0];
        assert_eq!(q.query, "What, is it?");
        assert_eq!(q.grades.get("c.md"), Some(&1));
        assert_eq!(q.spans[0].start, 14);
    }

    #[test]
    fn loads_beir_layout() {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("qrels")).unwrap();
        std::fs::write(
            tmp.path().join("queries.jsonl"),
            "{\"_id\": \"1\", \"text\": \"first\"}\n{\"_id\": \"2\", \"text\": \"unjudged\"}\n",
        )
        .unwrap();
        std::fs::write(
            tmp.path().join("qrels/test.tsv"),
            "query-id\tcorpus-id\tscore\n1\td1\t2\n1\td2\t0\n",
        )
        .unwrap();
        let set = load(tmp.path()).unwrap();
        assert_eq!(set.kind, SetKind::Beir);
        assert_eq!(set.questions.len(), 1);
        assert_eq!(set.questions[0].grades.get("d1"), Some(&2));
        assert_eq!(set.questions[0].grades.get("d2"), Some(&0));
        std::fs::write(tmp.path().join("qrels/test.tsv"), "1\td1\n").unwrap();
        assert!(load(tmp.path())
            .unwrap_err()
            .to_string()
            .contains("expected"));
    }

    #[test]
    fn span_jsonl_errors_name_the_line() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("q.jsonl");
        std::fs::write(&p, "{\"query\": \"a\", \"relevant\": []}\n{\"query\": 3}\n").unwrap();
        let err = load(&p).unwrap_err().to_string();
        assert!(err.contains(":2"), "{err}");
    }
}
