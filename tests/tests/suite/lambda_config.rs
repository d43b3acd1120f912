//! How a Lambda function assembles its service at start (`iev_aws::config`):
//! secrets read from Secrets Manager (moto), only their hashes kept. Each test
//! runs in its own process under nextest, so setting the environment is local to it.

use iev_aws::config::{Assembly, ConfigError, Secret};
use iev_domain::auth::{KeyHash, Role};
use iev_domain::ports::KeyStore;
use iev_domain::DomainError;

/// A fresh table, and the settings every function reads, pointing at it.
async fn environment() -> (aws_config::SdkConfig, iev_aws::DynamoStore) {
    let sdk = iev_tests::aws::sdk_config().await;
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let table = format!("iev-test-{}", uuid::Uuid::new_v4());
    iev_aws::create_table(&dynamo, &table).await.unwrap();
    std::env::set_var("IEV_TABLE", &table);
    std::env::set_var("IEV_PUBLIC_URL", "https://iev.example");
    (sdk.clone(), iev_aws::DynamoStore::new(dynamo, table))
}

async fn secret(sdk: &aws_config::SdkConfig, value: &str) -> String {
    aws_sdk_secretsmanager::Client::new(sdk)
        .create_secret()
        .name(format!("iev-test-{}", uuid::Uuid::new_v4()))
        .secret_string(value)
        .send()
        .await
        .expect("the secret is created")
        .arn()
        .expect("its ARN")
        .to_owned()
}

#[tokio::test]
async fn the_admin_key_read_from_its_secret_authenticates_as_admin_and_only_its_hash_is_kept() {
    let (sdk, store) = environment().await;
    let admin = "the-stack's-generated-admin-key:0123456789abcdef";
    let cursor = "a-cursor-signing-secret-of-forty-eight-characters";
    std::env::set_var("IEV_ADMIN_KEY_SECRET_ARN", secret(&sdk, admin).await);
    std::env::set_var("IEV_CURSOR_SECRET_ARN", secret(&sdk, cursor).await);
    let service = Assembly::from_env("test")
        .await
        .unwrap()
        .with_secrets(&[Secret::AdminKey, Secret::CursorKey])
        .await
        .unwrap()
        .build();

    let caller = service.authenticate(Some(admin)).await.unwrap();
    assert_eq!(caller.role, Role::Admin);
    assert!(matches!(
        service.authenticate(Some("not-the-admin-key")).await,
        Err(DomainError::Unauthenticated)
    ));
    let made = service
        .create_key(&caller, br#"{"role": "vendor", "vendorId": "v-1"}"#)
        .await
        .unwrap();
    assert_eq!(
        service.authenticate(Some(&made.key)).await.unwrap().role,
        Role::Vendor
    );
    assert_eq!(service.config.admin_key, Some(KeyHash::of(admin)));
    assert!(
        store.get_key(&KeyHash::of(admin)).await.unwrap().is_none(),
        "the admin key is not written to the table"
    );
    let shown = format!("{:?}", service.config);
    assert!(!shown.contains(admin) && !shown.contains(cursor), "{shown}");
}

#[tokio::test]
async fn a_cursor_secret_shorter_than_32_characters_stops_the_function_naming_the_setting() {
    let (sdk, _store) = environment().await;
    std::env::set_var("IEV_CURSOR_SECRET_ARN", secret(&sdk, "too-short").await);
    let result = Assembly::from_env("test")
        .await
        .unwrap()
        .with_secrets(&[Secret::CursorKey])
        .await;
    match result {
        Err(ConfigError::Invalid { name, .. }) => assert_eq!(name, "IEV_CURSOR_SECRET_ARN"),
        Err(other) => panic!("another error: {other}"),
        Ok(_) => panic!("a short cursor secret was accepted"),
    }
}

#[tokio::test]
async fn a_secret_that_cannot_be_read_or_is_not_named_stops_the_function_naming_the_setting() {
    let _ = environment().await;
    std::env::set_var(
        "IEV_ADMIN_KEY_SECRET_ARN",
        "arn:aws:secretsmanager:us-east-1:123456789012:secret:no-such-secret",
    );
    let unreadable = Assembly::from_env("test")
        .await
        .unwrap()
        .with_secrets(&[Secret::AdminKey])
        .await;
    assert!(
        matches!(
            unreadable,
            Err(ConfigError::Invalid {
                name: "IEV_ADMIN_KEY_SECRET_ARN",
                ..
            })
        ),
        "{:?}",
        unreadable.err()
    );
    std::env::remove_var("IEV_ADMIN_KEY_SECRET_ARN");
    let unnamed = Assembly::from_env("test")
        .await
        .unwrap()
        .with_secrets(&[Secret::AdminKey])
        .await;
    assert!(
        matches!(
            unnamed,
            Err(ConfigError::Missing("IEV_ADMIN_KEY_SECRET_ARN"))
        ),
        "{:?}",
        unnamed.err()
    );
}
