//! A Lambda function's process, stopped as Lambda stops an execution environment.

use std::io::{BufRead, Read};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::Duration;

#[test]
fn a_function_waiting_for_its_next_event_exits_0_on_sigterm_and_says_why() {
    // A Runtime API that takes the function's poll for its next event and
    // never answers it, as Lambda does between invocations.
    let api = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = api.local_addr().unwrap().to_string();
    let (polled, poll) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in api.incoming().flatten() {
            let mut head = [0u8; 512];
            let n = (&stream).read(&mut head).unwrap_or(0);
            if String::from_utf8_lossy(&head[..n]).contains("/runtime/invocation/next") {
                let _ = polled.send(());
            }
            held.push(stream);
        }
    });
    let mut child = Command::new(env!("CARGO_BIN_EXE_record-error"))
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", &address)
        .env("AWS_LAMBDA_FUNCTION_NAME", "record-error")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("IEV_TABLE", "iev-sigterm")
        .env("IEV_PUBLIC_URL", "https://iev.example")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (lines, log) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = lines.send(line);
        }
    });
    if poll.recv_timeout(Duration::from_secs(20)).is_err() {
        let _ = child.kill();
        panic!("the function never polled for its next event");
    }

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("the function did not stop within 5 s of SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0), "a clean stop exits 0");
    // Everything it wrote: the reader ends at the pipe's end.
    let mut said = Vec::new();
    while let Ok(line) = log.recv_timeout(Duration::from_secs(5)) {
        said.push(line);
    }
    let line = said
        .iter()
        .find(|l| l.contains("SIGTERM"))
        .unwrap_or_else(|| panic!("it says why it stops: {said:?}"));
    let line: serde_json::Value = serde_json::from_str(line).expect("a JSON log line");
    assert_eq!(line["function"], "record-error", "{line}");
}
