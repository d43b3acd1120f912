//! One test binary: the store contract against both stores, the HTTP API of
//! the local runner, and the AWS path over DynamoDB Local and SQS.

mod api;
mod aws_path;
mod blackbox;
mod contract;
mod coupa;
mod dispatch;
mod embedded;
mod export;
mod first_session;
mod hardening;
mod lambda_config;
mod openapi;
mod report;
