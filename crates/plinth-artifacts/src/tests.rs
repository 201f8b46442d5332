mod local {
    crate::artifact_store_suite!(crate::testsuite::open_local_temp());
}

mod memory {
    crate::artifact_store_suite!(crate::testsuite::open_memory());
}

mod s3 {
    crate::artifact_store_suite!(crate::testsuite::open_s3_from_env(), #[ignore = "needs PLINTH_TEST_S3_ENDPOINT"]);
}

use crate::ArtifactStore;

#[test]
fn unknown_scheme_is_named() {
    let error = ArtifactStore::open("ftp://x/y", &Default::default())
        .unwrap_err()
        .to_string();
    assert_eq!(error, "invalid object store URL `ftp://x/y`: unknown scheme `ftp`; use `file://`, `s3://` or `memory://`");
}

#[test]
fn s3_prefix_is_validated() {
    let error = ArtifactStore::open("s3://bucket/a%2F..%2Fb", &Default::default())
        .unwrap_err()
        .to_string();
    assert!(error.contains("invalid"), "{error}");
}

#[tokio::test]
async fn local_store_writes_only_inside_its_folder() {
    let parent = tempfile::tempdir().unwrap();
    let root = parent.path().join("objects");
    let url = url::Url::from_directory_path(&root).unwrap().to_string();
    let store = ArtifactStore::open(&url, &Default::default()).unwrap();
    let k = crate::ObjectKey::parse("x/y.txt").unwrap();
    store
        .put(&k, bytes::Bytes::from_static(b"y"))
        .await
        .unwrap();
    assert!(root.join("x/y.txt").try_exists().unwrap());
    let outside: Vec<_> = fs_err::read_dir(parent.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name())
        .collect();
    assert_eq!(outside, [std::ffi::OsString::from("objects")]);
}

#[tokio::test]
async fn unreachable_s3_is_unavailable_naming_the_location() {
    let s3 = plinth_config::ResolvedS3 {
        endpoint: Some("http://127.0.0.1:1".to_string()),
        allow_http: true,
        access_key_id: Some("k".to_string()),
        secret_access_key: Some(plinth_config::Secret::new("s")),
        ..Default::default()
    };
    let store = ArtifactStore::open("s3://bucket/prefix", &s3).unwrap();
    let error = store.check_connectivity().await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "object store at `s3://bucket/prefix` is unavailable"
    );
}
