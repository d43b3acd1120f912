//! Logs and metrics of a Lambda function, as CloudWatch reads them: one JSON
//! object a line (no colour codes), each carrying the fields of the spans it
//! was written in (the runtime's `requestId`, a delivery's `eventId` and
//! `applicationId`), and each settled delivery also as a line in CloudWatch's
//! embedded metric format, so metrics cost no API call.

use iev_domain::dispatch::DELIVERY_LOG_TARGET;
use std::io::Write;
use tracing::field::{Field, Visit};
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// The CloudWatch namespace of the delivery metrics.
pub const METRICS_NAMESPACE: &str = "IntegrationEvents";

/// Installs the JSON log subscriber and the metrics layer. The level comes from
/// `AWS_LAMBDA_LOG_LEVEL` (Lambda's logging controls), else `RUST_LOG`, else info.
pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into())
        .to_ascii_lowercase();
    let filter = EnvFilter::try_new(&level).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = tracing_subscriber::fmt::layer()
        .json()
        .with_ansi(false)
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(true)
        .with_target(false)
        .with_writer(std::io::stdout);
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(json)
        .with(DeliveryMetrics::new(std::io::stdout))
        .try_init();
}

/// Writes an embedded-metric-format line for each settled delivery.
pub struct DeliveryMetrics<W> {
    writer: W,
}

impl<W> DeliveryMetrics<W> {
    pub fn new(writer: W) -> Self {
        DeliveryMetrics { writer }
    }
}

impl<S, W> Layer<S> for DeliveryMetrics<W>
where
    S: tracing::Subscriber,
    W: for<'w> tracing_subscriber::fmt::MakeWriter<'w> + 'static,
{
    fn on_event(&self, event: &tracing::Event<'_>, _ctx: Context<'_, S>) {
        if event.metadata().target() != DELIVERY_LOG_TARGET {
            return;
        }
        let mut fields = Fields::default();
        event.record(&mut fields);
        let line = emf_line(&fields, chrono::Utc::now().timestamp_millis());
        let mut out = self.writer.make_writer();
        // One write of the whole line, so that concurrent deliveries never interleave.
        let _ = out.write_all(line.as_bytes());
    }
}

#[derive(Debug, Default)]
struct Fields {
    event_id: String,
    application_id: String,
    status: String,
    error_code: String,
    latency_ms: u64,
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "status" => self.status = value.to_owned(),
            "error_code" => self.error_code = value.to_owned(),
            _ => {}
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "latency_ms" {
            self.latency_ms = value;
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.record_u64(field, value.max(0) as u64);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "event_id" => self.event_id = format!("{value:?}"),
            "application_id" => self.application_id = format!("{value:?}"),
            "status" | "error_code" => self.record_str(field, &format!("{value:?}")),
            _ => {}
        }
    }
}

/// One EMF document: `Delivered`, `Failed` and `Retried` counts and the call's
/// `LatencyMs`, in total (no dimension) and by `ErrorCode` (`NONE` for a success).
fn emf_line(f: &Fields, timestamp_ms: i64) -> String {
    let (delivered, failed, retried) = match f.status.as_str() {
        "COMPLETE" | "ASYNC_PENDING" => (1, 0, 0),
        "FAILED" => (0, 1, 0),
        _ => (0, 0, 1),
    };
    let code = if f.error_code.is_empty() {
        "NONE"
    } else {
        f.error_code.as_str()
    };
    let mut line = serde_json::json!({
        "_aws": {
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": METRICS_NAMESPACE,
                "Dimensions": [[], ["ErrorCode"]],
                "Metrics": [
                    {"Name": "Delivered", "Unit": "Count"},
                    {"Name": "Failed", "Unit": "Count"},
                    {"Name": "Retried", "Unit": "Count"},
                    {"Name": "LatencyMs", "Unit": "Milliseconds"}
                ]
            }]
        },
        "ErrorCode": code,
        "Delivered": delivered,
        "Failed": failed,
        "Retried": retried,
        "LatencyMs": f.latency_ms,
        "eventId": f.event_id,
        "applicationId": f.application_id,
        "status": f.status,
    })
    .to_string();
    line.push('\n');
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'w> tracing_subscriber::fmt::MakeWriter<'w> for Captured {
        type Writer = Captured;
        fn make_writer(&'w self) -> Self::Writer {
            self.clone()
        }
    }

    fn lines_written_by(f: impl FnOnce()) -> Vec<serde_json::Value> {
        let captured = Captured::default();
        let subscriber = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_ansi(false)
                    .flatten_event(true)
                    .with_current_span(false)
                    .with_span_list(true)
                    .with_writer(captured.clone()),
            )
            .with(DeliveryMetrics::new(captured.clone()));
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(!text.contains('\u{1b}'), "no ANSI escape codes: {text}");
        text.lines()
            .map(|l| serde_json::from_str(l).expect("every line is one JSON object"))
            .collect()
    }

    #[test]
    fn a_failed_delivery_becomes_a_json_log_line_and_an_emf_metric_by_error_code() {
        let lines = lines_written_by(|| {
            let span = tracing::info_span!("Lambda runtime invoke", requestId = "req-1");
            let _in = span.enter();
            let delivery = tracing::info_span!(
                "delivery",
                event_id = "ev-1",
                application_id = tracing::field::Empty
            );
            let _d = delivery.enter();
            tracing::Span::current().record("application_id", "app-1");
            tracing::info!(
                target: DELIVERY_LOG_TARGET,
                event_id = %"ev-1",
                application_id = %"app-1",
                status = "FAILED",
                latency_ms = 42u64,
                error_code = "USER_NOT_FOUND",
                "delivery attempt settled"
            );
        });
        assert_eq!(lines.len(), 2, "{lines:?}");
        let log = &lines[0];
        assert_eq!(log["message"], "delivery attempt settled");
        let spans = log["spans"].as_array().unwrap();
        assert_eq!(spans[0]["requestId"], "req-1");
        assert_eq!(spans[1]["event_id"], "ev-1");
        assert_eq!(spans[1]["application_id"], "app-1");
        let metric = &lines[1];
        assert_eq!(metric["ErrorCode"], "USER_NOT_FOUND");
        assert_eq!(metric["Failed"], 1);
        assert_eq!(metric["Delivered"], 0);
        assert_eq!(metric["LatencyMs"], 42);
        assert_eq!(metric["eventId"], "ev-1");
        assert_eq!(metric["applicationId"], "app-1");
        let directive = &metric["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], METRICS_NAMESPACE);
        assert_eq!(directive["Dimensions"][1][0], "ErrorCode");
        assert!(metric["_aws"]["Timestamp"].as_i64().unwrap() > 0);
    }

    #[test]
    fn a_delivered_event_counts_as_delivered_with_error_code_none() {
        let lines = lines_written_by(|| {
            tracing::info!(
                target: DELIVERY_LOG_TARGET,
                event_id = %"ev-2",
                application_id = %"app-2",
                status = "COMPLETE",
                latency_ms = 7u64,
                error_code = "",
                "delivery attempt settled"
            );
            tracing::info!("an ordinary line makes no metric");
        });
        assert_eq!(lines.len(), 3, "{lines:?}");
        let metric = &lines[1];
        assert_eq!(metric["Delivered"], 1);
        assert_eq!(metric["Failed"], 0);
        assert_eq!(metric["ErrorCode"], "NONE");
    }
}
