//! Delivering an event to its vendor and deciding what came of it. One
//! implementation serves the SQS-triggered Lambda and the local worker.
//!
//! A delivery claims the event with a short lease (so a redelivered message
//! waits instead of calling the vendor twice), calls the vendor, and settles in
//! one atomic store write that moves the event, records the failure under an id
//! derived from the event and its round, and moves the integration's failure
//! count. A settled event is never called again.

use crate::error::{DomainError, StoreError};
use crate::event::{Attempt, AttemptOutcome, Event, EventStatus, EventType};
use crate::integration::Integration;
use crate::isolation::{Admission, Permit, Reached};
use crate::oauth;
use crate::ports::{FailureCount, OutboundRequest, OutboundResult};
use crate::record::{Alert, AlertKind, Category, ErrorCode, ErrorRecord, Source};
use crate::service::Service;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct DispatchConfig {
    /// Calls per delivery round before a transient failure becomes TRANSPORT_ERROR.
    pub max_attempts: u32,
    /// The first retry's delay; each further one doubles, up to `max_delay`.
    pub base_delay: Duration,
    /// At most 12 hours in AWS (the SQS visibility limit); 15 minutes by default.
    pub max_delay: Duration,
    /// How long a worker owns an event while it calls the vendor.
    pub lease: Duration,
    /// Successive counted failures that disable an integration.
    pub disable_after: u32,
    /// Calls one integration may have in flight at once, per instance.
    pub max_in_flight: u32,
    /// Calls in a row gone unanswered (timed out, unreachable) that open an
    /// integration's circuit.
    pub circuit_trip_after: u32,
    /// How long an open circuit holds its integration's events back before a probe.
    pub circuit_cool_down: Duration,
    /// The longest cool-down, after probes that also went unanswered.
    pub circuit_max_cool_down: Duration,
    /// How long an instance may deliver with an integration it read before,
    /// or check a vendor's signature with it (zero: read it every time). On
    /// DynamoDB one application's deliveries and its vendor's fetches would
    /// otherwise all read one item, past a partition's 3,000 reads a second;
    /// cached, each instance reads it once a period.
    pub integration_cache: Duration,
}

impl Default for DispatchConfig {
    fn default() -> Self {
        DispatchConfig {
            max_attempts: 6,
            base_delay: Duration::from_secs(5),
            max_delay: Duration::from_secs(15 * 60),
            lease: Duration::from_secs(60),
            disable_after: 10,
            max_in_flight: 32,
            circuit_trip_after: 5,
            circuit_cool_down: Duration::from_secs(30),
            circuit_max_cool_down: Duration::from_secs(600),
            integration_cache: Duration::ZERO,
        }
    }
}

/// What the caller of [`Service::dispatch`] does with the message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DispatchOutcome {
    /// Nothing more to do: acknowledge the message.
    Done,
    /// Deliver again after this long.
    RetryAfter(Duration),
    /// Not claimed: the integration's bound or circuit holds it back (see
    /// `isolation`). Offer it again after this long; it counts as no receive.
    Deferred(Duration),
}

/// How long a settle that the store refused as unavailable waits before it is
/// tried again, doubling up to the last: about 25 s in all, inside the
/// 60 s lease, after which the event is given back.
const SETTLE_RETRY_FIRST: Duration = Duration::from_millis(200);
const SETTLE_RETRY_LAST: Duration = Duration::from_millis(12_800);

/// Calls left in flight by a worker that stopped mid-call.
fn interrupt_calls_in_flight(event: &mut Event) {
    for attempt in &mut event.attempts {
        if attempt.outcome == AttemptOutcome::InFlight {
            attempt.outcome = AttemptOutcome::Interrupted;
        }
    }
}

/// The target of the one log line each settled attempt writes (status, HTTP
/// status, latency, error code): adapters may turn it into metrics.
pub const DELIVERY_LOG_TARGET: &str = "iev::delivery";

/// What one attempt decided.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    Delivered,
    Async,
    Failed {
        code: ErrorCode,
        category: Category,
        message: String,
    },
    Transient {
        message: String,
        retry_after: Option<Duration>,
    },
}

impl Verdict {
    fn failed(code: ErrorCode, message: impl Into<String>) -> Self {
        Verdict::Failed {
            code,
            category: code.category(),
            message: message.into(),
        }
    }
}

/// The body a vendor answers with (synchronously, or posted later).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VendorResult {
    success: Value,
    #[serde(default)]
    error_code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    account_identifier: Option<String>,
}

const EXCERPT_CHARS: usize = 512;

fn excerpt(body: &[u8]) -> Option<String> {
    if body.is_empty() {
        return None;
    }
    let text = String::from_utf8_lossy(body);
    Some(text.chars().take(EXCERPT_CHARS).collect())
}

/// Reads a vendor's result body (`success` as a boolean or the strings "true"/"false").
pub(crate) fn interpret_result(kind: EventType, body: &[u8]) -> Verdict {
    let result: VendorResult = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return Verdict::failed(
                ErrorCode::InvalidResponse,
                format!("the vendor's answer is not a valid result: {e}"),
            )
        }
    };
    let success = match &result.success {
        Value::Bool(b) => *b,
        Value::String(s) if s.eq_ignore_ascii_case("true") => true,
        Value::String(s) if s.eq_ignore_ascii_case("false") => false,
        other => {
            return Verdict::failed(
                ErrorCode::InvalidResponse,
                format!("'success' must be true or false, not {other}"),
            )
        }
    };
    if success {
        let has_account = result
            .account_identifier
            .as_deref()
            .is_some_and(|a| !a.trim().is_empty());
        if kind == EventType::SubscriptionOrder && !has_account {
            return Verdict::failed(
                ErrorCode::InvalidResponse,
                "a successful SUBSCRIPTION_ORDER answer must carry an accountIdentifier",
            );
        }
        return Verdict::Delivered;
    }
    let message = result.message.unwrap_or_default();
    match result.error_code.as_deref() {
        Some(code) => match code.parse::<ErrorCode>() {
            Ok(code) => Verdict::failed(code, message),
            Err(_) => Verdict::failed(
                ErrorCode::UnknownError,
                format!("[{code}] {message}").trim_end().to_owned(),
            ),
        },
        None => Verdict::failed(ErrorCode::UnknownError, message),
    }
}

/// Reads what the vendor's endpoint answered to the notification call.
fn interpret_call(kind: EventType, result: &OutboundResult) -> Verdict {
    match result {
        OutboundResult::Response {
            status,
            body,
            truncated,
            retry_after,
        } => match *status {
            200 if *truncated => Verdict::failed(
                ErrorCode::InvalidResponse,
                "the vendor's answer exceeds the size limit",
            ),
            200 => interpret_result(kind, body),
            202 if kind == EventType::SubscriptionNotice => Verdict::failed(
                ErrorCode::InvalidResponse,
                "SUBSCRIPTION_NOTICE must be answered synchronously, not with 202",
            ),
            202 => Verdict::Async,
            429 | 500..=599 => Verdict::Transient {
                message: format!("the vendor answered HTTP {status}"),
                retry_after: *retry_after,
            },
            401 | 403 => Verdict::failed(
                ErrorCode::Unauthorized,
                format!("the vendor's endpoint refused the call with HTTP {status}"),
            ),
            other => Verdict::failed(
                ErrorCode::InvalidResponse,
                format!("the vendor answered HTTP {other}"),
            ),
        },
        OutboundResult::Timeout => Verdict::Transient {
            message: "the vendor did not answer in time".into(),
            retry_after: None,
        },
        OutboundResult::Unreachable(why) => Verdict::Transient {
            message: format!("the vendor could not be reached: {why}"),
            retry_after: None,
        },
        OutboundResult::Refused(why) => Verdict::failed(
            ErrorCode::ConfigurationError,
            format!("the notification URL may not be called: {why}"),
        ),
    }
}

fn status_of(result: &OutboundResult) -> Option<u16> {
    match result {
        OutboundResult::Response { status, .. } => Some(*status),
        _ => None,
    }
}

fn elapsed_ms(from: DateTime<Utc>, to: DateTime<Utc>) -> u64 {
    (to - from).num_milliseconds().max(0) as u64
}

/// How long a cached integration that is disabled, or missing, is used.
pub const DISABLED_RECHECK: Duration = Duration::from_millis(250);

/// The failure record's id: one per event and round, so recording is idempotent.
pub fn error_id(event: &Event) -> String {
    format!("{}.{}", event.id, event.round)
}

impl Service {
    /// The delay before retry number `failures` (1-based): exponential, with
    /// "equal jitter" (half fixed, half random), at least `Retry-After`.
    fn backoff(&self, failures: u32, retry_after: Option<Duration>) -> Duration {
        let cfg = &self.config.dispatch;
        let exp = cfg
            .base_delay
            .saturating_mul(1u32 << failures.saturating_sub(1).min(20));
        let capped = exp.min(cfg.max_delay);
        let random = self.ids.secret(2);
        let fraction = u16::from_be_bytes([random[0], random[1]]) as f64 / u16::MAX as f64;
        let jittered = capped.mul_f64(0.5 + 0.5 * fraction);
        jittered
            .max(retry_after.unwrap_or_default())
            .min(cfg.max_delay)
    }

    /// The integration a delivery (or a vendor's signed request) goes by:
    /// read, or as this instance read it within `integration_cache`. Its own
    /// writes of the integration drop the copy; another instance's (a save,
    /// a disabling) are seen within the period.
    pub(crate) async fn cached_integration(
        &self,
        id: &crate::integration::ApplicationId,
    ) -> Result<Option<Integration>, StoreError> {
        let period = self.config.dispatch.integration_cache;
        if period.is_zero() {
            return self.store.get_integration(id).await;
        }
        if let Some((read_at, integration)) = self.caches.integrations.get(id) {
            // A disabled (or missing) copy fails every event it is used for:
            // it is read again sooner, so that one enabled elsewhere is seen
            // within a quarter of a second.
            let usable = integration.as_ref().is_some_and(|i| i.enabled);
            let period = if usable {
                period
            } else {
                period.min(DISABLED_RECHECK)
            };
            if read_at.elapsed() < period {
                return Ok(integration);
            }
        }
        let integration = self.store.get_integration(id).await?;
        self.caches
            .integrations
            .insert(id.clone(), (std::time::Instant::now(), integration.clone()));
        Ok(integration)
    }

    /// Delivers one queued event, or decides it needs no more delivery. A
    /// caller's span with an empty `application_id` field gets it filled in.
    pub async fn dispatch(&self, event_id: &str) -> Result<DispatchOutcome, DomainError> {
        self.claim_and_deliver(event_id, false).await
    }

    /// `dispatch`, taking over a live lease when `reclaim` says the worker
    /// that holds it is gone.
    pub(crate) async fn claim_and_deliver(
        &self,
        event_id: &str,
        reclaim: bool,
    ) -> Result<DispatchOutcome, DomainError> {
        // A lost race with another writer re-reads and decides again.
        for _ in 0..5 {
            let Some(event) = self.store.get_event(event_id).await? else {
                tracing::warn!(event_id, "queued event not found; dropping the message");
                return Ok(DispatchOutcome::Done);
            };
            tracing::Span::current().record("application_id", event.application_id.as_str());
            if event.status != EventStatus::Pending {
                return Ok(DispatchOutcome::Done);
            }
            let now = self.clock.now();
            if let Some(until) = event.lease_until.filter(|u| *u > now && !reclaim) {
                return Ok(DispatchOutcome::RetryAfter(
                    (until - now).to_std().unwrap_or_default(),
                ));
            }
            let integration = self.cached_integration(&event.application_id).await?;
            // Held back before it is claimed, so that nothing is recorded of it.
            let permit = match integration.as_ref().filter(|i| i.enabled) {
                Some(i) => {
                    let counted = event
                        .body
                        .counts_toward_disabling()
                        .then_some(i.successive_failures);
                    match self.caches.isolation.admit(
                        event.application_id.as_str(),
                        &self.config.dispatch,
                        counted,
                    ) {
                        Admission::Go(permit) => Some(permit),
                        Admission::Defer(wait) => return Ok(DispatchOutcome::Deferred(wait)),
                    }
                }
                None => None,
            };
            let mut claimed = event.clone();
            claimed.lease_until = Some(
                now + chrono::Duration::from_std(self.config.dispatch.lease)
                    .unwrap_or(chrono::Duration::seconds(60)),
            );
            claimed.version += 1;
            // The call is in the record before it starts, in the same write
            // as the claim; a crash mid-call leaves it there, marked at the
            // next claim as interrupted.
            interrupt_calls_in_flight(&mut claimed);
            claimed.attempts.push(Attempt {
                at: now,
                round: claimed.round,
                http_status: None,
                latency_ms: 0,
                outcome: AttemptOutcome::InFlight,
                error_code: None,
                message: None,
                response_excerpt: None,
            });
            match self.store.update_event(&claimed, event.version).await {
                Ok(()) => {}
                Err(StoreError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
            return self.deliver(claimed, integration, permit).await;
        }
        Ok(DispatchOutcome::RetryAfter(self.config.dispatch.base_delay))
    }

    async fn deliver(
        &self,
        mut event: Event,
        integration: Option<Integration>,
        permit: Option<Permit>,
    ) -> Result<DispatchOutcome, DomainError> {
        // The claim's in-flight entry becomes this call's attempt when it settles.
        if event
            .attempts
            .last()
            .is_some_and(|a| a.outcome == AttemptOutcome::InFlight)
        {
            event.attempts.pop();
        }
        let started = self.clock.now();
        // The call stays in flight for the isolation bounds until its failure
        // (if it failed) is counted in the store: a call admitted meanwhile
        // would read a count one short.
        let mut ending: Option<(Permit, Reached)> = None;
        let not_sent = |code: ErrorCode, category: Category, message: String| {
            (
                Verdict::Failed {
                    code,
                    category,
                    message,
                },
                None,
                None,
            )
        };
        let (verdict, http_status, body_excerpt) = match &integration {
            None => not_sent(
                ErrorCode::ConfigurationError,
                Category::Perform,
                "no integration is configured for this application".into(),
            ),
            Some(i) if !i.enabled => not_sent(
                ErrorCode::OperationCancelled,
                Category::Disabled,
                "the integration is disabled; the event was not sent".into(),
            ),
            // Ten successive failures are counted: the integration is being
            // disabled, and no further call may start meanwhile.
            Some(i)
                if i.successive_failures >= self.config.dispatch.disable_after
                    && event.body.counts_toward_disabling() =>
            {
                not_sent(
                    ErrorCode::OperationCancelled,
                    Category::Disabled,
                    format!(
                        "the integration failed {} times in a row and is being disabled; the event was not sent",
                        i.successive_failures
                    ),
                )
            }
            Some(i) => match i.notification_urls.get(&event.body.kind) {
                None => not_sent(
                    ErrorCode::ConfigurationError,
                    Category::Perform,
                    format!("no notification URL is configured for {}", event.body.kind),
                ),
                Some(url) => {
                    let event_url = self.event_url(&event.token);
                    let target = url.for_event(event_url.as_str());
                    let result = match self.signed(i, "GET", &target, None) {
                        Ok(request) => self.outbound.send(request).await,
                        Err(why) => OutboundResult::Refused(why),
                    };
                    let verdict = interpret_call(event.body.kind, &result);
                    if let Some(permit) = permit {
                        let reached = match (&result, &verdict) {
                            (OutboundResult::Timeout | OutboundResult::Unreachable(_), _) => {
                                Reached::Unanswered
                            }
                            (_, Verdict::Delivered | Verdict::Async) => Reached::Delivered,
                            _ => Reached::Answered,
                        };
                        ending = Some((permit, reached));
                    }
                    let body = match &result {
                        OutboundResult::Response { body, .. } => excerpt(body),
                        _ => None,
                    };
                    (verdict, status_of(&result), body)
                }
            },
        };
        let finished = self.clock.now();
        let attempt = Attempt {
            at: started,
            round: event.round,
            http_status,
            latency_ms: elapsed_ms(started, finished),
            outcome: match &verdict {
                Verdict::Delivered => AttemptOutcome::Success,
                Verdict::Async => AttemptOutcome::Async,
                Verdict::Transient { .. } => AttemptOutcome::Transient,
                Verdict::Failed { .. } if http_status.is_none() => AttemptOutcome::NotSent,
                Verdict::Failed { .. } => AttemptOutcome::Error,
            },
            error_code: match &verdict {
                Verdict::Failed { code, .. } => Some(code.as_str().to_owned()),
                Verdict::Transient { .. } => Some(ErrorCode::TransportError.as_str().to_owned()),
                _ => None,
            },
            message: match &verdict {
                Verdict::Failed { message, .. } | Verdict::Transient { message, .. } => {
                    Some(message.clone())
                }
                _ => None,
            },
            response_excerpt: body_excerpt,
        };
        let settled = self
            .settle(event, integration.as_ref(), verdict, attempt)
            .await;
        if let Some((permit, reached)) = ending {
            permit.finish(reached, &self.config.dispatch);
        }
        settled
    }

    /// An OAuth-signed request with the integration's consumer key and secret.
    fn signed(
        &self,
        integration: &Integration,
        method: &'static str,
        url: &str,
        json_body: Option<Vec<u8>>,
    ) -> Result<OutboundRequest, String> {
        let parsed = url::Url::parse(url).map_err(|e| format!("'{url}' is not a URL: {e}"))?;
        let nonce = hex::encode(self.ids.secret(16));
        let authorization = oauth::authorization_header(
            method,
            &parsed,
            None,
            &integration.oauth.consumer_key,
            &integration.oauth.consumer_secret,
            &nonce,
            self.clock.now().timestamp(),
        );
        Ok(OutboundRequest {
            method,
            url: url.to_owned(),
            authorization: Some(authorization),
            json_body,
        })
    }

    /// Writes what one attempt (or a posted async result) decided.
    async fn settle(
        &self,
        mut event: Event,
        integration: Option<&Integration>,
        verdict: Verdict,
        attempt: Attempt,
    ) -> Result<DispatchOutcome, DomainError> {
        let expected = event.version;
        let now = self.clock.now();
        interrupt_calls_in_flight(&mut event);
        event.attempts.push(attempt.clone());
        event.lease_until = None;
        event.updated_at = now;
        event.version += 1;
        let counts = event.body.counts_toward_disabling();
        let verdict = match verdict {
            Verdict::Transient { message, .. }
                if event.transient_failures + 1 >= self.config.dispatch.max_attempts =>
            {
                Verdict::failed(
                    ErrorCode::TransportError,
                    format!("{message} ({} attempts)", self.config.dispatch.max_attempts),
                )
            }
            other => other,
        };
        let (outcome, error, count) = match &verdict {
            Verdict::Delivered => {
                event.status = EventStatus::Complete;
                // A count already at zero is not written again: that write
                // would land on one integration item (and its listing index
                // partition) for every delivered event. A failure counted by
                // another worker since this one read the integration stays
                // counted until the next delivery: a rare, conservative miss.
                let failing = integration.is_some_and(|i| i.successive_failures > 0);
                let count = if counts && failing {
                    FailureCount::Reset
                } else {
                    FailureCount::Unchanged
                };
                (DispatchOutcome::Done, None, count)
            }
            Verdict::Async => {
                event.status = EventStatus::AsyncPending;
                (DispatchOutcome::Done, None, FailureCount::Unchanged)
            }
            Verdict::Transient { retry_after, .. } => {
                event.status = EventStatus::Pending;
                event.transient_failures += 1;
                let delay = self.backoff(event.transient_failures, *retry_after);
                (
                    DispatchOutcome::RetryAfter(delay),
                    None,
                    FailureCount::Unchanged,
                )
            }
            Verdict::Failed {
                code,
                category,
                message,
            } => {
                event.status = EventStatus::Failed;
                let record = self.failure_record(&event, integration, *code, *category, message);
                let count = if counts && *category != Category::Disabled {
                    FailureCount::Increment
                } else {
                    FailureCount::Unchanged
                };
                (DispatchOutcome::Done, Some(record), count)
            }
        };
        // What the vendor answered is kept here while the store cannot take
        // it (a full disk, throttling): giving the event back would call the
        // vendor again once the lease runs out.
        let mut pause = SETTLE_RETRY_FIRST;
        let write = loop {
            let write = match (&error, count, &verdict) {
                (None, FailureCount::Unchanged, Verdict::Transient { .. } | Verdict::Async) => {
                    self.store.update_event(&event, expected).await
                }
                _ => {
                    self.store
                        .finish_delivery(&event, expected, error.as_ref(), count)
                        .await
                }
            };
            match write {
                Err(StoreError::Unavailable(detail)) if pause <= SETTLE_RETRY_LAST => {
                    tracing::warn!(event_id = %event.id, %detail, retry_in = ?pause, "the store cannot settle the delivery yet; keeping the answer");
                    tokio::time::sleep(pause).await;
                    pause *= 2;
                }
                other => break other,
            }
        };
        match write {
            Ok(()) => {
                if count != FailureCount::Unchanged {
                    self.caches.integrations.invalidate(&event.application_id);
                }
            }
            Err(StoreError::Conflict(detail)) => {
                // Another worker settled this event first; its answer stands.
                tracing::info!(event_id = %event.id, %detail, "event already settled elsewhere");
                return Ok(DispatchOutcome::Done);
            }
            Err(e) => return Err(e.into()),
        }
        let error_code = match &verdict {
            Verdict::Failed { code, .. } => code.as_str(),
            Verdict::Transient { .. } => ErrorCode::TransportError.as_str(),
            Verdict::Delivered | Verdict::Async => "",
        };
        tracing::info!(
            target: DELIVERY_LOG_TARGET,
            event_id = %event.id,
            application_id = %event.application_id,
            status = event.status.as_str(),
            http_status = attempt.http_status,
            latency_ms = attempt.latency_ms,
            error_code,
            "delivery attempt settled"
        );
        match verdict {
            Verdict::Delivered => self.resolve_earlier_failures(&event).await,
            Verdict::Failed { .. } => {
                if let (Some(record), Some(integration)) = (&error, integration) {
                    self.after_failure(integration, record, count).await;
                }
            }
            _ => {}
        }
        Ok(outcome)
    }

    fn failure_record(
        &self,
        event: &Event,
        integration: Option<&Integration>,
        code: ErrorCode,
        category: Category,
        message: &str,
    ) -> ErrorRecord {
        let now = self.clock.now();
        let user = event.body.subject_user();
        let company = event.body.payload.company.as_ref();
        ErrorRecord {
            id: error_id(event),
            creation_date: now,
            application_id: event.application_id.clone(),
            importable_application_uuid: integration
                .and_then(|i| i.importable_application_uuid.clone()),
            application_name: integration
                .map(|i| i.application_name.clone())
                .unwrap_or_default(),
            vendor_id: event.vendor_id.clone(),
            user_id: user.and_then(|u| u.uuid.clone()),
            user_email: user.and_then(|u| u.email.clone()),
            company_id: company.and_then(|c| c.uuid.clone()),
            company_name: company.and_then(|c| c.name.clone()),
            event_type: Some(event.body.kind),
            error_code: code,
            message: message.to_owned(),
            manually_resolved: false,
            event_id: Some(event.id.clone()),
            event_token: Some(event.token.clone()),
            category,
            attempts: event
                .attempts
                .iter()
                .filter(|a| a.round == event.round)
                .count() as u32,
            last_http_status: event.attempts.last().and_then(|a| a.http_status),
            resolved_at: None,
            resolved_by: None,
            note: None,
            source: Source::Dispatch,
            external_id: None,
            custom_attributes: BTreeMap::new(),
            document_type: None,
            document_id: None,
            document_revision: None,
            document_status: None,
            integration_run_id: None,
            integration_filename: None,
            status: None,
            creation_method: None,
            responses: Vec::new(),
            created_by: Some("system".into()),
            updated_by: None,
            history: Vec::new(),
            expires_at: now + self.config.retention,
            version: 1,
        }
    }

    /// A successful delivery closes the failures of this event's earlier rounds.
    async fn resolve_earlier_failures(&self, event: &Event) {
        for round in 1..event.round {
            let id = format!("{}.{round}", event.id);
            let result = async {
                let Some(record) = self.store.get_error(&id).await? else {
                    return Ok::<_, StoreError>(());
                };
                let note = record
                    .note
                    .is_none()
                    .then(|| "delivered on a later attempt".to_owned());
                let Some(resolved) = record.resolved("system", self.clock.now(), note) else {
                    return Ok(());
                };
                let expected = record.version;
                self.store.update_error(&resolved, expected).await
            }
            .await;
            if let Err(e) = result {
                tracing::warn!(error_id = %id, error = %e, "could not auto-resolve a failure");
            }
        }
    }

    /// Notifies the vendor of the failure, and disables the integration once
    /// its successive failures reach the limit.
    async fn after_failure(
        &self,
        integration: &Integration,
        record: &ErrorRecord,
        count: FailureCount,
    ) {
        let event_id = record.event_id.clone().unwrap_or_default();
        let notice = Alert {
            id: format!("event-failed.{event_id}"),
            kind: AlertKind::EventFailed,
            application_id: Some(integration.application_id.clone()),
            vendor_id: Some(integration.vendor_id.clone()),
            error_ids: vec![record.id.clone()],
            message: format!(
                "Product Event Failure: {} for {} failed with {}: {}",
                record.event_type.map(|t| t.as_str()).unwrap_or("event"),
                integration.application_name,
                record.error_code,
                record.message
            ),
            recipients: integration.alert_url.iter().cloned().collect(),
            contact_alert_type: None,
            deliveries: Vec::new(),
            created_at: self.clock.now(),
            created_by: "system".into(),
        };
        self.raise_alert(integration, notice).await;
        // A count that reached the limit, or an event refused because it had
        // (the disabling write after the tenth failure may not have landed),
        // disables the integration if it is still enabled.
        if count != FailureCount::Increment && record.category != Category::Disabled {
            return;
        }
        let result = async {
            let Some(current) = self
                .store
                .get_integration(&integration.application_id)
                .await?
            else {
                return Ok::<_, StoreError>(());
            };
            if !current.enabled || current.successive_failures < self.config.dispatch.disable_after {
                return Ok(());
            }
            let at = self.clock.now();
            if self
                .store
                .set_integration_enabled(&current.application_id, false, at)
                .await?
            {
                self.caches.integrations.invalidate(&current.application_id);
                tracing::warn!(application_id = %current.application_id, failures = current.successive_failures, "integration disabled");
                let alert = Alert {
                    id: format!(
                        "integration-disabled.{}.{}",
                        current.application_id,
                        at.timestamp_millis()
                    ),
                    kind: AlertKind::IntegrationDisabled,
                    application_id: Some(current.application_id.clone()),
                    vendor_id: Some(current.vendor_id.clone()),
                    error_ids: vec![record.id.clone()],
                    message: format!(
                        "{} was disabled after {} successive failed deliveries; re-enable it once fixed",
                        current.application_name, current.successive_failures
                    ),
                    recipients: current.alert_url.iter().cloned().collect(),
                    contact_alert_type: None,
                    deliveries: Vec::new(),
                    created_at: at,
                    created_by: "system".into(),
                };
                self.raise_alert(&current, alert).await;
            }
            Ok(())
        }
        .await;
        if let Err(e) = result {
            tracing::error!(application_id = %integration.application_id, error = %e, "could not check the failure count");
        }
    }

    /// Stores an alert once and posts it, signed, to the integration's alert URL.
    async fn raise_alert(&self, integration: &Integration, alert: Alert) {
        match self.store.insert_alert(&alert).await {
            Ok(true) => {}
            Ok(false) => return,
            Err(e) => {
                tracing::error!(alert_id = %alert.id, error = %e, "could not store an alert");
                return;
            }
        }
        let Some(url) = &integration.alert_url else {
            return;
        };
        let body = serde_json::to_vec(&alert).unwrap_or_default();
        let request = match self.signed(integration, "POST", url, Some(body)) {
            Ok(r) => r,
            Err(why) => {
                tracing::warn!(alert_id = %alert.id, %why, "alert URL unusable");
                return;
            }
        };
        match self.outbound.send(request).await {
            OutboundResult::Response { status, .. } if (200..300).contains(&status) => {}
            other => {
                tracing::warn!(alert_id = %alert.id, result = ?other, "alert webhook did not accept the alert")
            }
        }
    }

    /// Settles `event` as a final failure that no vendor answer decided.
    pub(crate) async fn settle_failure(
        &self,
        event: Event,
        integration: Option<&Integration>,
        code: ErrorCode,
        message: &str,
        attempt: Attempt,
    ) -> Result<(), DomainError> {
        self.settle(event, integration, Verdict::failed(code, message), attempt)
            .await
            .map(|_| ())
    }

    /// A vendor's signed `POST .../events/{token}/result`, completing an asynchronous delivery.
    pub async fn vendor_result(
        &self,
        token: &str,
        query: Option<&str>,
        authorization: Option<&str>,
        body: &[u8],
    ) -> Result<(), DomainError> {
        if body.len() > crate::service::MAX_BODY_BYTES {
            return Err(DomainError::TooLarge {
                limit: crate::service::MAX_BODY_BYTES,
            });
        }
        let (event, integration) = self
            .verified_vendor_request("POST", token, query, authorization)
            .await?;
        if event.status != EventStatus::AsyncPending {
            return Err(DomainError::Conflict(format!(
                "the event is {}, not waiting for an asynchronous result",
                event.status.as_str()
            )));
        }
        let verdict = match interpret_result(event.body.kind, body) {
            Verdict::Failed {
                code: ErrorCode::InvalidResponse,
                message,
                ..
            } => return Err(DomainError::invalid("success", message)),
            v => v,
        };
        let attempt = Attempt {
            at: self.clock.now(),
            round: event.round,
            http_status: None,
            latency_ms: 0,
            outcome: AttemptOutcome::Result,
            error_code: match &verdict {
                Verdict::Failed { code, .. } => Some(code.as_str().to_owned()),
                _ => None,
            },
            message: match &verdict {
                Verdict::Failed { message, .. } => Some(message.clone()),
                _ => None,
            },
            response_excerpt: excerpt(body),
        };
        self.settle(event, Some(&integration), verdict, attempt)
            .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(status: u16, body: &str) -> OutboundResult {
        OutboundResult::Response {
            status,
            body: body.as_bytes().to_vec(),
            truncated: false,
            retry_after: None,
        }
    }

    fn code_of(v: Verdict) -> ErrorCode {
        match v {
            Verdict::Failed { code, .. } => code,
            other => panic!("expected a failure, got {other:?}"),
        }
    }

    #[test]
    fn success_may_arrive_as_a_boolean_or_the_string_true() {
        let order = EventType::SubscriptionOrder;
        let body = r#"{"success": true, "accountIdentifier": "acc-1"}"#;
        assert_eq!(
            interpret_call(order, &response(200, body)),
            Verdict::Delivered
        );
        let body = r#"{"success": "true", "accountIdentifier": "acc-1"}"#;
        assert_eq!(
            interpret_call(order, &response(200, body)),
            Verdict::Delivered
        );
        let body = r#"{"success": "yes"}"#;
        assert_eq!(
            code_of(interpret_call(order, &response(200, body))),
            ErrorCode::InvalidResponse
        );
    }

    #[test]
    fn an_order_answered_without_an_account_identifier_is_an_invalid_response() {
        let v = interpret_call(
            EventType::SubscriptionOrder,
            &response(200, r#"{"success": true}"#),
        );
        assert_eq!(code_of(v), ErrorCode::InvalidResponse);
        let v = interpret_call(
            EventType::SubscriptionCancel,
            &response(200, r#"{"success": true}"#),
        );
        assert_eq!(v, Verdict::Delivered);
    }

    #[test]
    fn a_vendor_error_code_is_final_with_its_category() {
        let v = interpret_call(
            EventType::UserAssignment,
            &response(
                200,
                r#"{"success": false, "errorCode": "USER_NOT_FOUND", "message": "who?"}"#,
            ),
        );
        assert_eq!(
            v,
            Verdict::Failed {
                code: ErrorCode::UserNotFound,
                category: Category::MissingAccountMapping,
                message: "who?".into()
            }
        );
    }

    #[test]
    fn an_unknown_vendor_error_code_is_kept_in_the_message() {
        let v = interpret_call(
            EventType::UserAssignment,
            &response(
                200,
                r#"{"success": false, "errorCode": "SEATS_GONE", "message": "full"}"#,
            ),
        );
        match v {
            Verdict::Failed { code, message, .. } => {
                assert_eq!(code, ErrorCode::UnknownError);
                assert_eq!(message, "[SEATS_GONE] full");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn server_errors_throttling_and_timeouts_are_transient() {
        let kind = EventType::SubscriptionCancel;
        for status in [500, 502, 503, 429] {
            assert!(matches!(
                interpret_call(kind, &response(status, "")),
                Verdict::Transient { .. }
            ));
        }
        assert!(matches!(
            interpret_call(kind, &OutboundResult::Timeout),
            Verdict::Transient { .. }
        ));
        assert!(matches!(
            interpret_call(kind, &OutboundResult::Unreachable("refused".into())),
            Verdict::Transient { .. }
        ));
    }

    #[test]
    fn a_notice_answered_asynchronously_is_a_failure_and_others_wait() {
        assert_eq!(
            code_of(interpret_call(
                EventType::SubscriptionNotice,
                &response(202, "")
            )),
            ErrorCode::InvalidResponse
        );
        assert_eq!(
            interpret_call(EventType::SubscriptionCancel, &response(202, "")),
            Verdict::Async
        );
    }

    #[test]
    fn garbage_oversized_and_refused_answers_are_final() {
        let kind = EventType::SubscriptionCancel;
        assert_eq!(
            code_of(interpret_call(kind, &response(200, "<html>oops</html>"))),
            ErrorCode::InvalidResponse
        );
        let big = OutboundResult::Response {
            status: 200,
            body: vec![b' '; 10],
            truncated: true,
            retry_after: None,
        };
        assert_eq!(
            code_of(interpret_call(kind, &big)),
            ErrorCode::InvalidResponse
        );
        assert_eq!(
            code_of(interpret_call(
                kind,
                &OutboundResult::Refused("loopback".into())
            )),
            ErrorCode::ConfigurationError
        );
        assert_eq!(
            code_of(interpret_call(kind, &response(401, ""))),
            ErrorCode::Unauthorized
        );
    }
}
