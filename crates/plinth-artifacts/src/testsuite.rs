//! The conformance suite every object store backend must pass unchanged: the local folder,
//! memory, and a real S3-compatible server (`PLINTH_TEST_S3_*`).

use bytes::Bytes;
use futures::stream::{self, StreamExt};

use crate::{ArtifactError, ArtifactStore, ObjectKey};

/// A fresh store plus whatever must live as long as it.
pub struct TestArtifacts {
    /// The store, rooted at a prefix no other test uses.
    pub store: ArtifactStore,
    /// The folder of a local store, removed on drop.
    pub dir: Option<tempfile::TempDir>,
}

/// Opens a store in a new temporary folder.
pub fn open_local_temp() -> TestArtifacts {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = url::Url::from_directory_path(dir.path())
        .expect("absolute")
        .to_string();
    let store = ArtifactStore::open(&url, &Default::default()).expect("open local store");
    TestArtifacts {
        store,
        dir: Some(dir),
    }
}

/// Opens a store in memory.
pub fn open_memory() -> TestArtifacts {
    TestArtifacts {
        store: ArtifactStore::in_memory(),
        dir: None,
    }
}

/// Opens a store on the S3 server named by `PLINTH_TEST_S3_ENDPOINT`, in the bucket
/// `PLINTH_TEST_S3_BUCKET`, under a prefix of its own.
pub fn open_s3_from_env() -> TestArtifacts {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| panic!("{name} must be set for this test"))
    };
    let s3 = plinth_config::ResolvedS3 {
        endpoint: Some(var("PLINTH_TEST_S3_ENDPOINT")),
        region: Some("us-east-1".to_string()),
        access_key_id: Some(var("PLINTH_TEST_S3_ACCESS_KEY_ID")),
        secret_access_key: Some(plinth_config::Secret::new(var(
            "PLINTH_TEST_S3_SECRET_ACCESS_KEY",
        ))),
        allow_http: true,
        virtual_hosted_style: false,
    };
    let url = format!(
        "s3://{}/suite-{}",
        var("PLINTH_TEST_S3_BUCKET"),
        uuid::Uuid::new_v4().simple()
    );
    TestArtifacts {
        store: ArtifactStore::open(&url, &s3).expect("open s3 store"),
        dir: None,
    }
}

/// Instantiates the conformance suite for one backend; attributes after the expression go
/// on every test.
#[macro_export]
macro_rules! artifact_store_suite {
    ($open:expr $(, #[$attr:meta])* $(,)?) => {
        $crate::artifact_store_suite!(@cases ($open) [$(#[$attr])*]
            put_get_head_delete_round_trip
            missing_objects_are_not_found
            listing_is_recursive_or_one_level
            scoped_stores_stay_inside_their_prefix
            multipart_upload_streams_large_objects
            failed_upload_leaves_nothing
            ranges_read_parts
            probe_checks_read_write
        );
    };
    (@cases ($open:expr) [$($attrs:tt)*] $case:ident $($rest:ident)*) => {
        $($attrs)*
        #[tokio::test]
        async fn $case() {
            let test = $open;
            $crate::testsuite::$case(&test.store).await;
        }
        $crate::artifact_store_suite!(@cases ($open) [$($attrs)*] $($rest)*);
    };
    (@cases ($open:expr) [$($attrs:tt)*]) => {};
}

fn key(text: &str) -> ObjectKey {
    ObjectKey::parse(text).expect("valid key")
}

/// Objects are stored, described, read and deleted; deleting twice is fine.
pub async fn put_get_head_delete_round_trip(store: &ArtifactStore) {
    let k = key("runs/r1/metrics.json");
    store
        .put(&k, Bytes::from_static(b"{\"loss\": 0.1}"))
        .await
        .unwrap();
    assert_eq!(
        store.get(&k).await.unwrap(),
        Bytes::from_static(b"{\"loss\": 0.1}")
    );
    let info = store.head(&k).await.unwrap();
    assert_eq!(info.key, k);
    assert_eq!(info.size, 13);
    assert!(info.last_modified_ms > 0);
    store
        .put(&k, Bytes::from_static(b"replaced"))
        .await
        .unwrap();
    assert_eq!(
        store.get(&k).await.unwrap(),
        Bytes::from_static(b"replaced")
    );
    let unicode = key("dir with space/ünïcødé 名前.txt");
    store.put(&unicode, Bytes::from_static(b"u")).await.unwrap();
    assert_eq!(store.get(&unicode).await.unwrap(), Bytes::from_static(b"u"));
    store.delete(&k).await.unwrap();
    store.delete(&k).await.unwrap();
    assert!(matches!(
        store.get(&k).await,
        Err(ArtifactError::NotFound { .. })
    ));
}

/// Reading or describing a missing object says `NotFound`, naming the key.
pub async fn missing_objects_are_not_found(store: &ArtifactStore) {
    let error = store.get(&key("nope/x.bin")).await.unwrap_err();
    assert_eq!(error.to_string(), "object `nope/x.bin` not found");
    assert!(matches!(
        store.head(&key("nope/x.bin")).await,
        Err(ArtifactError::NotFound { .. })
    ));
}

/// `list` goes to any depth; `list_directory` shows one level, like a folder.
pub async fn listing_is_recursive_or_one_level(store: &ArtifactStore) {
    for name in ["a/1.txt", "a/b/2.txt", "a/b/c/3.txt", "a/d/4.txt", "e.txt"] {
        store
            .put(&key(name), Bytes::from(name.to_string()))
            .await
            .unwrap();
    }
    let all: Vec<String> = store
        .list(None)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key.to_string())
        .collect();
    assert_eq!(
        all,
        ["a/1.txt", "a/b/2.txt", "a/b/c/3.txt", "a/d/4.txt", "e.txt"]
    );
    let under_a: Vec<String> = store
        .list(Some(&key("a/b")))
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key.to_string())
        .collect();
    assert_eq!(under_a, ["a/b/2.txt", "a/b/c/3.txt"]);
    let level = store.list_directory(Some(&key("a"))).await.unwrap();
    let directories: Vec<String> = level.directories.iter().map(ToString::to_string).collect();
    let objects: Vec<String> = level.objects.iter().map(|o| o.key.to_string()).collect();
    assert_eq!(directories, ["a/b", "a/d"]);
    assert_eq!(objects, ["a/1.txt"]);
    let root = store.list_directory(None).await.unwrap();
    assert_eq!(root.directories, [key("a")]);
    assert_eq!(root.objects.len(), 1);
    assert_eq!(store.delete_prefix(&key("a/b")).await.unwrap(), 2);
    assert_eq!(store.list(None).await.unwrap().len(), 3);
}

/// A scoped store sees only its prefix, and keys it returns are relative to it.
pub async fn scoped_stores_stay_inside_their_prefix(store: &ArtifactStore) {
    let project_a = store.scoped(&key("projects/a"));
    let project_b = store.scoped(&key("projects/b"));
    project_a
        .put(&key("secret.txt"), Bytes::from_static(b"a"))
        .await
        .unwrap();
    project_b
        .put(&key("other.txt"), Bytes::from_static(b"b"))
        .await
        .unwrap();
    let listed: Vec<String> = project_a
        .list(None)
        .await
        .unwrap()
        .into_iter()
        .map(|o| o.key.to_string())
        .collect();
    assert_eq!(listed, ["secret.txt"]);
    assert!(matches!(
        project_b.get(&key("secret.txt")).await,
        Err(ArtifactError::NotFound { .. })
    ));
    assert_eq!(
        store.get(&key("projects/a/secret.txt")).await.unwrap(),
        Bytes::from_static(b"a")
    );
    // Escapes cannot even be expressed: keys are validated before any backend call.
    assert!(ObjectKey::parse("../b/other.txt").is_err());
    assert!(ObjectKey::parse("%2e%2e/b/other.txt").is_err());
}

/// A 20 MiB object sent in uneven chunks arrives whole (three parts of 8 MiB).
pub async fn multipart_upload_streams_large_objects(store: &ArtifactStore) {
    let total: usize = 20 * 1024 * 1024 + 17;
    let chunk_sizes = [1, 65_536, 3_000_001, 7 * 1024 * 1024];
    let mut chunks = Vec::new();
    let mut produced = 0usize;
    let mut index = 0;
    while produced < total {
        let size = chunk_sizes[index % chunk_sizes.len()].min(total - produced);
        let chunk: Vec<u8> = (produced..produced + size)
            .map(|i| (i % 251) as u8)
            .collect();
        chunks.push(Ok::<Bytes, std::io::Error>(Bytes::from(chunk)));
        produced += size;
        index += 1;
    }
    let k = key("models/big.bin");
    let written = store
        .put_stream(&k, stream::iter(chunks).boxed())
        .await
        .unwrap();
    assert_eq!(written, total as u64);
    assert_eq!(store.head(&k).await.unwrap().size, total as u64);
    let (info, mut body) = store.get_stream(&k).await.unwrap();
    assert_eq!(info.size, total as u64);
    let mut offset = 0usize;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        for (i, byte) in chunk.iter().enumerate() {
            assert_eq!(*byte, ((offset + i) % 251) as u8, "byte {}", offset + i);
        }
        offset += chunk.len();
    }
    assert_eq!(offset, total);
}

/// When the uploaded stream fails, the upload is aborted and no object appears.
pub async fn failed_upload_leaves_nothing(store: &ArtifactStore) {
    let chunks = vec![
        Ok(Bytes::from(vec![7u8; 9 * 1024 * 1024])),
        Err(std::io::Error::other("client went away")),
    ];
    let k = key("uploads/broken.bin");
    let error = store
        .put_stream(&k, stream::iter(chunks).boxed())
        .await
        .unwrap_err();
    assert!(error.to_string().contains("uploads/broken.bin"), "{error}");
    assert!(matches!(
        store.head(&k).await,
        Err(ArtifactError::NotFound { .. })
    ));
}

/// Byte ranges read the right slice.
pub async fn ranges_read_parts(store: &ArtifactStore) {
    let k = key("r.txt");
    store
        .put(&k, Bytes::from_static(b"0123456789"))
        .await
        .unwrap();
    assert_eq!(
        store.get_range(&k, 2..5).await.unwrap(),
        Bytes::from_static(b"234")
    );
}

/// The startup probe succeeds on a working store and leaves nothing behind.
pub async fn probe_checks_read_write(store: &ArtifactStore) {
    store.check_connectivity().await.unwrap();
    store.check_read_write().await.unwrap();
    assert!(store.list(None).await.unwrap().is_empty());
}
