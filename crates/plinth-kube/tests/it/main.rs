//! Integration tests of the Kubernetes backend: API calls against a scripted fake API
//! server (`calls`), the kubeconfig and TLS path against a local HTTPS stub (`tls`), and
//! the generated manifests against the official schemas (`schemas`, ignored unless the
//! validator is installed).

mod calls;
mod image_builds;
mod schemas;
mod support;
mod tls;
