// figment's `Jail` closures return `figment::Error`, which is large by figment's design.
#![allow(clippy::result_large_err)]

use std::path::PathBuf;
use std::time::Duration;

use figment::Jail;

use super::*;

#[test]
fn annotated_defaults_equal_the_built_in_defaults() {
    let parsed: Config = toml_from_str(DEFAULT_CONFIG_TOML);
    assert_eq!(parsed, Config::default());
}

fn toml_from_str(text: &str) -> Config {
    use figment::providers::{Format, Toml};
    figment::Figment::from(Toml::string(text))
        .extract()
        .expect("default.toml parses")
}

#[test]
fn layers_apply_in_order() {
    Jail::expect_with(|jail| {
        jail.create_file(
            "plinth.toml",
            r#"
            [server]
            listen_addr = "127.0.0.1:9000"
            data_dir = "from-file"
            [log]
            level = "debug"
            "#,
        )?;
        jail.set_env("PLINTH__SERVER__DATA_DIR", "from-env");
        jail.set_env("PLINTH__METASTORE__MAX_CONNECTIONS", "3");
        let options = LoadOptions {
            config_file: None,
            overrides: Overrides {
                data_dir: Some(PathBuf::from("from-flag")),
                ..Overrides::default()
            },
        };
        let loaded = load(&options).expect("loads");
        assert_eq!(loaded.config.server.listen_addr.port(), 9000);
        assert_eq!(loaded.config.server.data_dir, PathBuf::from("from-flag"));
        assert_eq!(loaded.config.metastore.max_connections, 3);
        assert_eq!(loaded.config.log.level, "debug");
        assert_eq!(loaded.config_file, Some(PathBuf::from("plinth.toml")));
        Ok(())
    });
}

#[test]
fn unknown_key_in_file_is_named() {
    Jail::expect_with(|jail| {
        jail.create_file("plinth.toml", "[server]\nlisten_adress = \"127.0.0.1:1\"\n")?;
        let error = load(&LoadOptions::default()).unwrap_err().to_string();
        assert!(error.contains("listen_adress"), "{error}");
        assert!(error.contains("plinth.toml"), "{error}");
        assert!(!error.contains('\n'), "one line: {error}");
        Ok(())
    });
}

#[test]
fn unknown_key_in_env_is_named() {
    Jail::expect_with(|jail| {
        jail.set_env("PLINTH__SERVER__PORT", "1");
        let error = load(&LoadOptions::default()).unwrap_err().to_string();
        assert!(error.contains("port"), "{error}");
        assert!(error.contains("PLINTH__"), "names the env source: {error}");
        Ok(())
    });
}

#[test]
fn bad_value_is_named() {
    Jail::expect_with(|jail| {
        jail.set_env("PLINTH__SERVER__LISTEN_ADDR", "not-an-address");
        let error = load(&LoadOptions::default()).unwrap_err().to_string();
        assert!(error.contains("server.listen_addr"), "{error}");
        Ok(())
    });
}

#[test]
fn missing_explicit_file_is_an_error() {
    Jail::expect_with(|_jail| {
        let options = LoadOptions {
            config_file: Some(PathBuf::from("nope.toml")),
            ..LoadOptions::default()
        };
        let error = load(&options).unwrap_err().to_string();
        assert_eq!(
            error,
            "config file `nope.toml` cannot be read: no such file"
        );
        Ok(())
    });
}

#[test]
fn validation_reports_every_problem() {
    let mut config = Config::default();
    config.server.max_body_bytes = 0;
    config.metastore.url = Some(Secret::new("mysql://x"));
    config.objects.url = Some("ftp://host/x".to_string());
    let ConfigError::Invalid(problems) = config.validate().unwrap_err() else {
        panic!("expected Invalid");
    };
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems[0].contains("server.max_body_bytes"));
    assert!(problems[1].contains("metastore.url") && problems[1].contains("mysql"));
    assert!(problems[2].contains("objects.url") && problems[2].contains("ftp"));
}

#[test]
fn plain_http_s3_endpoint_needs_allow_http() {
    let mut config = Config::default();
    config.objects.url = Some("s3://bucket/prefix".to_string());
    config.objects.s3.endpoint = Some("http://127.0.0.1:9000".to_string());
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("objects.s3.allow_http"), "{error}");
    config.objects.s3.allow_http = true;
    config.validate().expect("allowed");
}

#[test]
fn secrets_come_from_files_and_both_forms_conflict() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    fs_err::write(&path, "s3cr3t\n").unwrap();
    let mut config = Config::default();
    config.objects.s3.secret_access_key_file = Some(path.clone());
    config.metastore.url_file = Some(path.clone());
    assert_eq!(
        config
            .resolved_s3()
            .unwrap()
            .secret_access_key
            .unwrap()
            .expose(),
        "s3cr3t"
    );
    assert_eq!(config.metastore_url().unwrap().expose(), "s3cr3t");
    config.objects.s3.secret_access_key = Some(Secret::new("inline"));
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("secret_access_key_file"), "{error}");
}

#[test]
fn defaults_live_in_the_data_dir() {
    let config = Config::default();
    let metastore_url = config.metastore_url().unwrap();
    assert!(
        metastore_url.expose().starts_with("sqlite:///"),
        "{}",
        metastore_url.expose()
    );
    assert!(metastore_url.expose().ends_with("/plinth-data/plinth.db"));
    assert!(config.objects_url().starts_with("file:///"));
    assert!(config.objects_url().ends_with("/plinth-data/objects"));
    assert_eq!(config.server.shutdown_grace_period, Duration::from_secs(30));
}

#[test]
fn debug_output_hides_secrets() {
    let mut config = Config::default();
    config.metastore.url = Some(Secret::new("postgres://u:hunter2@db/x"));
    config.objects.s3.secret_access_key = Some(Secret::new("hunter3"));
    let debug = format!("{config:?}");
    assert!(
        !debug.contains("hunter2") && !debug.contains("hunter3"),
        "{debug}"
    );
}

#[test]
fn unknown_plinth_variables_draw_warnings() {
    let warnings = load::unknown_env_warnings_for_test(&[
        ("PLINTH_SERVER__LISTEN_ADDR", "x"),
        ("PLINTH__SERVER__LISTEN_ADDR", "x"),
        ("PLINTH_CONFIG", "x"),
        ("PLINTH_TEST_POSTGRES_URL", "x"),
        ("HOME", "x"),
    ]);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("PLINTH_SERVER__LISTEN_ADDR"));
}

#[test]
fn image_build_settings_are_checked_naming_the_key() {
    let mut config = Config::default();
    config.environments.images.registry = "https://registry.example.com".to_string();
    config.environments.images.credentials_secret = Some("Bad_Name".to_string());
    config.environments.images.builder_image = " ".to_string();
    config.environments.images.build_timeout = std::time::Duration::ZERO;
    let ConfigError::Invalid(problems) = config.validate().unwrap_err() else {
        panic!("expected Invalid");
    };
    assert_eq!(problems.len(), 4, "{problems:?}");
    assert!(problems[0].contains("environments.images.registry") && problems[0].contains("scheme"));
    assert!(problems[1].contains("environments.images.credentials_secret"));
    assert!(problems[2].contains("environments.images.builder_image"));
    assert!(problems[3].contains("environments.images.build_timeout"));
    config.environments.images.registry = "registry.example.com:5000/ml//x".to_string();
    config.environments.images.credentials_secret = Some("plinth-registry".to_string());
    config.environments.images.builder_image = "moby/buildkit:rootless".to_string();
    config.environments.images.build_timeout = std::time::Duration::from_secs(60);
    let error = config.validate().unwrap_err().to_string();
    assert!(error.contains("host[:port][/path]"), "{error}");
    config.environments.images.registry = "registry.example.com:5000/ml".to_string();
    config.validate().expect("valid");
}
