//! The CLI against a platform behind a TLS-terminating proxy, the normal case in
//! production: a real nginx with a certificate signed by a certificate authority of the
//! test's own (made with the `openssl` command). Without that authority the CLI refuses the
//! server and says how to trust it; with `--ca-file` it logs in, remembers the authority
//! for the next commands, and a job's output streams through the proxy.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::cli_jobs::Cli;
use crate::support::{workdir, Server, ADMIN_PASSWORD};

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        output.status.success(),
        "openssl {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// A certificate authority and a certificate it signed for `localhost` and 127.0.0.1.
fn certificates(dir: &Path) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Plinth test authority",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    fs_err::write(
        dir.join("server.ext"),
        "subjectAltName = DNS:localhost, IP:127.0.0.1\nextendedKeyUsage = serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "server.ext",
            "-out",
            "server.pem",
        ],
    );
}

struct Nginx(Child);

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts nginx on a free port terminating TLS in front of `upstream`; returns its port.
fn nginx(dir: &Path, upstream: &str) -> (Nginx, u16) {
    let program = std::env::var("PLINTH_TEST_NGINX").expect("PLINTH_TEST_NGINX");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let upstream = upstream.trim_start_matches("http://");
    let config = format!(
        r#"daemon off;
pid {dir}/nginx.pid;
error_log stderr warn;
events {{}}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {dir}/server.pem;
        ssl_certificate_key {dir}/server.key;
        client_max_body_size 0;
        location / {{
            proxy_pass http://{upstream};
            proxy_http_version 1.1;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-Proto https;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_buffering off;
            proxy_request_buffering off;
            proxy_read_timeout 300s;
        }}
    }}
}}
"#,
        dir = dir.display()
    );
    fs_err::write(dir.join("nginx.conf"), config).unwrap();
    let child = Command::new(program)
        .args(["-c"])
        .arg(dir.join("nginx.conf"))
        .args(["-p"])
        .arg(dir)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(
            fs_err::File::create(dir.join("nginx.log"))
                .unwrap()
                .into_parts()
                .0,
        )
        .spawn()
        .expect("start nginx");
    let nginx = Nginx(child);
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
    (nginx, port)
}

#[test]
#[ignore = "needs PLINTH_TEST_NGINX (scripts/test)"]
fn the_cli_logs_in_over_https_through_a_tls_proxy() {
    let dir = workdir();
    let tls = dir.path().join("tls");
    fs_err::create_dir(&tls).unwrap();
    certificates(&tls);
    let server = Server::start(dir.path(), &[], &[]);
    let (_nginx, port) = nginx(&tls, &server.address);
    let url = format!("https://localhost:{port}");
    let cli = Cli::new(dir.path(), "admin");
    let login = |extra: &[&str]| {
        let mut args = vec![
            "login",
            "--url",
            &url,
            "--username",
            "admin",
            "--password-stdin",
        ];
        args.extend_from_slice(extra);
        cli.run_with(&args, &format!("{ADMIN_PASSWORD}\n"))
    };

    // An authority it does not know: refused, with what to do about it.
    let refused = login(&[]).error();
    assert!(refused.contains("certificate"), "{refused}");
    assert!(refused.contains("--ca-file"), "{refused}");

    let ca = tls.join("ca.pem").display().to_string();
    let logged_in = login(&["--ca-file", &ca]).ok();
    assert_eq!(logged_in.trim(), format!("logged in to {url} as admin"));
    // The authority is remembered for this server.
    let whoami = cli.run(&["whoami"]).ok();
    assert!(whoami.contains("admin"), "{whoami}");
    assert!(whoami.contains(&url), "{whoami}");

    // A job's output streams back through the proxy.
    cli.run(&["orgs", "create", "acme"]).ok();
    cli.run(&["projects", "create", "acme/tls"]).ok();
    let job = cli
        .run(&[
            "jobs",
            "run",
            "-p",
            "acme/tls",
            "--no-snapshot",
            "--",
            "sh",
            "-c",
            "echo over; echo tls",
        ])
        .ok();
    assert_eq!(job, "over\ntls\n");
    // A plain http URL to a TLS port is a clear error, not a hang.
    let wrong = cli
        .run(&["whoami", "--url", &format!("http://127.0.0.1:{port}")])
        .error();
    assert!(wrong.contains("127.0.0.1"), "{wrong}");
}
