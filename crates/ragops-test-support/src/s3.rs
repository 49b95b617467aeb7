//! A real S3-compatible server for the object-storage tests: moto's server mode (PyPI
//! `moto[server]`, installed by `scripts/test.sh` into `.cache/moto-venv`), started on a free
//! port of 127.0.0.1 and killed when dropped; plus plain HTTP requests to it (unsigned; moto
//! accepts them), so that a test can read or plant objects behind ragops' back.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server with one bucket.
pub struct S3Server {
    child: Child,
    exe: std::path::PathBuf,
    pub port: u16,
    pub bucket: String,
}

impl S3Server {
    /// Starts moto from `<repo>/.cache/moto-venv` (or `RAGOPS_MOTO_SERVER`) and creates
    /// `bucket`. Panics with what to run when moto is not installed.
    pub fn start(repo: &Path, bucket: &str) -> Self {
        let exe = std::env::var_os("RAGOPS_MOTO_SERVER")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| repo.join(".cache/moto-venv/bin/moto_server"));
        assert!(
            exe.is_file(),
            "{} is missing: run ./scripts/test.sh (it installs moto[server] from PyPI)",
            exe.display()
        );
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let child = Command::new(&exe)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start moto_server");
        let server = Self {
            child,
            exe,
            port,
            bucket: bucket.to_string(),
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "moto_server did not listen on port {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        let (status, body) = server.request("PUT", &format!("/{bucket}"), b"");
        assert_eq!(
            status,
            200,
            "create bucket: {}",
            String::from_utf8_lossy(&body)
        );
        server
    }

    /// The environment a ragops process needs to reach this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "AWS_ENDPOINT_URL".into(),
                format!("http://127.0.0.1:{}", self.port),
            ),
            ("AWS_ALLOW_HTTP".into(), "true".into()),
            ("AWS_ACCESS_KEY_ID".into(), "testing".into()),
            ("AWS_SECRET_ACCESS_KEY".into(), "testing".into()),
            ("AWS_REGION".into(), "us-east-1".into()),
        ]
    }

    /// `s3://<bucket>/<prefix>`.
    pub fn url(&self, prefix: &str) -> String {
        format!("s3://{}/{prefix}", self.bucket)
    }

    /// One HTTP/1.1 request (path-style), answered with status and body.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> (u16, Vec<u8>) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        s.set_read_timeout(Some(Duration::from_secs(30))).ok();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        );
        s.write_all(head.as_bytes()).expect("write");
        s.write_all(body).expect("write");
        let mut out = Vec::new();
        s.read_to_end(&mut out).expect("read");
        let split = out
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map_or(out.len(), |i| i + 4);
        let status = std::str::from_utf8(&out[..split.min(out.len())])
            .ok()
            .and_then(|h| h.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut body = out[split..].to_vec();
        if out[..split]
            .windows(26)
            .any(|w| w.eq_ignore_ascii_case(b"transfer-encoding: chunked"))
        {
            body = dechunk(&body);
        }
        (status, body)
    }

    /// Runs `code` in moto's Python with `s3` (a boto3 client for this server) and `bucket`
    /// defined; returns its stdout. moto refuses unsigned object requests, boto3 signs them.
    fn boto(&self, code: &str, stdin: &[u8]) -> Vec<u8> {
        let py = self
            .exe
            .parent()
            .map(|d| d.join("python"))
            .unwrap_or_else(|| "python3".into());
        let script = format!(
            "import boto3, sys\ns3 = boto3.client('s3', endpoint_url='http://127.0.0.1:{}', \
             aws_access_key_id='testing', aws_secret_access_key='testing', \
             region_name='us-east-1')\nbucket = '{}'\n{code}\n",
            self.port, self.bucket
        );
        let mut child = Command::new(py)
            .args(["-c", &script])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("moto's python");
        if let Some(mut i) = child.stdin.take() {
            i.write_all(stdin).expect("stdin");
        }
        let out = child.wait_with_output().expect("python runs");
        assert!(
            out.status.success(),
            "boto3: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Writes an object (unconditionally).
    pub fn put(&self, key: &str, body: &[u8]) {
        self.boto(
            &format!("s3.put_object(Bucket=bucket, Key={key:?}, Body=sys.stdin.buffer.read())"),
            body,
        );
    }

    /// Reads an object; `None` when it does not exist.
    pub fn get(&self, key: &str) -> Option<Vec<u8>> {
        let out = self.boto(
            &format!(
                "try:\n    b = s3.get_object(Bucket=bucket, Key={key:?})['Body'].read()\n    \
                 sys.stdout.buffer.write(b'1' + b)\nexcept s3.exceptions.NoSuchKey:\n    \
                 sys.stdout.buffer.write(b'0')"
            ),
            b"",
        );
        (out.first() == Some(&b'1')).then(|| out[1..].to_vec())
    }

    /// Keys under `prefix`.
    pub fn keys(&self, prefix: &str) -> Vec<String> {
        let out = self.boto(
            &format!(
                "p = s3.get_paginator('list_objects_v2')\nfor page in p.paginate(Bucket=bucket, \
                 Prefix={prefix:?}):\n    for o in page.get('Contents', []):\n        \
                 print(o['Key'])"
            ),
            b"",
        );
        String::from_utf8_lossy(&out)
            .lines()
            .map(str::to_string)
            .collect()
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Some(eol) = b.windows(2).position(|w| w == b"\r\n") else {
            return out;
        };
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..eol]).trim(), 16).unwrap_or(0);
        if n == 0 || b.len() < eol + 2 + n {
            return out;
        }
        out.extend_from_slice(&b[eol + 2..eol + 2 + n]);
        b = &b[(eol + 4 + n).min(b.len())..];
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
