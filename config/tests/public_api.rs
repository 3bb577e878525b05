//! The public entry points as the engine and the binary use them: real files, the real
//! process environment.

use std::path::PathBuf;

use sluice_config::{load_file, load_str, UpstreamSpec};

/// A file in the temp dir, removed on drop; the name carries the pid so parallel runs of the
/// suite do not collide.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, text: &str) -> Self {
        let path =
            std::env::temp_dir().join(format!("sluice-config-{}-{name}", std::process::id()));
        std::fs::write(&path, text).unwrap();
        Self(path)
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn load_file_reads_and_names_the_file_in_messages() {
    let good = TempFile::new(
        "good.yaml",
        "name: demo\nroutes:\n  - path: /\n    \
         upstream: {type: url, target: 'http://127.0.0.1:9000'}\n",
    );
    let config = load_file(&good.0).unwrap();
    let UpstreamSpec::Url(url) = &config.routes[0].upstream else {
        panic!()
    };
    assert_eq!(url.target.port, 9000);

    let bad = TempFile::new(
        "bad.yaml",
        "name: demo\nroutes:\n  - path: x\n    upstream: {type: static}\n",
    );
    let e = load_file(&bad.0).unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: routes[0].path: path \"x\" must start with '/'",
            bad.0.display()
        )
    );
}

#[test]
fn process_environment_is_substituted() {
    // Names unique to this test; nothing else in this binary reads them.
    std::env::set_var("SLUICE_CONFIG_TEST_NAME", "from-env");
    std::env::remove_var("SLUICE_CONFIG_TEST_UNSET");
    let text = "name: ${SLUICE_CONFIG_TEST_NAME}\nroutes:\n  - path: /\n    \
                upstream: {type: static, body: '${SLUICE_CONFIG_TEST_UNSET:-dflt}'}\n";
    let config = load_str(text, "env.yaml").unwrap();
    assert_eq!(config.name, "from-env");
    let UpstreamSpec::Static(s) = &config.routes[0].upstream else {
        panic!()
    };
    assert_eq!(s.body, "dflt");

    let e = load_str("name: ${SLUICE_CONFIG_TEST_UNSET}\n", "env.yaml").unwrap_err();
    assert_eq!(
        e.to_string(),
        "env.yaml: name: environment variable SLUICE_CONFIG_TEST_UNSET is not set\n\
         env.yaml: missing required field \"routes\""
    );
}
