use super::*;

fn argv(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_rule_compiles() {
    assert!((0..SECRET_PATTERNS.len()).all(|i| pattern(i).is_some()) && assignment().is_some());
    assert_eq!(NEEDLES.len(), SECRET_PATTERNS.len());
    assert!(url::compiles() && fields::compiles());
    assert!(assignment().is_some_and(|r| r.is_match("A=b")));
}

#[test]
fn secrets_and_credential_shapes_are_redacted() {
    let r = Redactor::new(vec!["hunter2-very-secret".into(), "abc".into()]);
    assert_eq!(r.redact("abc"), "abc", "too short to be treated as a secret");
    let t = r.redact("key=hunter2-very-secret and sk-ABCDEFGHIJKLMNOPQRSTUV, ghp_abcdefghijklmnopqrstuvwx");
    assert_eq!(t, format!("key={REDACTED} and {REDACTED}, {REDACTED}"));
    let pem = "x\n-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\ny";
    assert_eq!(r.redact(pem), format!("x\n{REDACTED}\ny"));
    assert_eq!(r.redact("Authorization: Bearer abcdefghijklmnop"), format!("Authorization: {REDACTED}"));
    for shape in [
        "glpat-abcdefghij0123456789",
        "xoxb-1234567890-abcdef",
        "AKIAIOSFODNN7EXAMPLE",
        "github_pat_11ABCDEFG0123456789_abcdefghij",
    ] {
        assert_eq!(r.redact(&format!("x {shape} y")), format!("x {REDACTED} y"), "{shape}");
    }
}

#[test]
fn assignments_and_url_passwords_are_redacted() {
    let r = Redactor::default();
    assert_eq!(r.redact("AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI"), format!("AWS_SECRET_ACCESS_KEY={REDACTED}"));
    assert_eq!(r.redact("--token=abc"), format!("--token={REDACTED}"));
    assert_eq!(r.redact("https://u:s3cret@host/x"), format!("https://u:{REDACTED}@host/x"));
    assert_eq!(r.redact("https://h/p?api_key=zz&page=2"), format!("https://h/p?api_key={REDACTED}&page=2"));
    // Names that only contain a secret word inside another word stay.
    for keep in ["--author=me", "monkey=banana", "--jobs=4", "https://host/path", "PWD=x"] {
        assert_eq!(r.redact(keep), keep);
    }
}

#[test]
fn argv_values_after_secret_flags_are_redacted_and_counted() {
    let r = Redactor::default();
    let (out, n) = r.redact_argv(&argv(&[
        "deploy",
        "--password",
        "hunter2",
        "--url",
        "https://u:s3cret@host",
        "-u",
        "bob:pw",
        "--verbose",
        "x",
    ]));
    assert_eq!(
        out,
        argv(&[
            "deploy",
            "--password",
            REDACTED,
            "--url",
            &format!("https://u:{REDACTED}@host"),
            "-u",
            &format!("bob:{REDACTED}"),
            "--verbose",
            "x"
        ])
    );
    assert_eq!(n, 3);
    let (out, n) = r.redact_argv(&argv(&["make", "-j", "4", "test"]));
    assert_eq!((out, n), (argv(&["make", "-j", "4", "test"]), 0));
}

#[test]
fn secret_names() {
    for n in ["GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "db-password", "API_KEY", "apikey", "x.auth", "NPM_TOKEN"] {
        assert!(is_secret_name(n), "{n}");
    }
    for n in ["author", "MONKEY", "PATH", "keyboard", "jobs", "GITHUB_REPOSITORY"] {
        assert!(!is_secret_name(n), "{n}");
    }
}

#[test]
fn environment_values_are_redacted_but_harmless_names_kept() {
    let r = Redactor::new(vec![]).with(["token-value-123".to_string()]);
    assert_eq!(r.redact("a token-value-123 b"), format!("a {REDACTED} b"));
    let from_env = Redactor::from_env(&["SOME_KEY_VAR".to_string()]);
    if let Ok(path) = std::env::var("PATH") {
        assert_eq!(from_env.redact(&path), path, "PATH is not a secret");
    }
}

/// `redact` of each `(input, expected)`.
fn check(r: &Redactor, cases: &[(&str, &str)]) {
    for (input, want) in cases {
        assert_eq!(r.redact(input), *want, "{input:?}");
    }
}

#[test]
fn user_and_password_in_every_spelling_lose_the_password() {
    let r = Redactor::default();
    check(
        &r,
        &[
            ("--user=alice:PASS", "--user=alice:[REDACTED]"),
            ("-ualice:PASS", "-ualice:[REDACTED]"),
            ("curl -u alice:PASS https://h/", "curl -u alice:[REDACTED] https://h/"),
            ("curl --user alice:PASS", "curl --user alice:[REDACTED]"),
            ("sh -c 'curl --user=alice:PASS x'", "sh -c 'curl --user=alice:[REDACTED] x'"),
        ],
    );
    let (out, n) = r.redact_argv(&argv(&["curl", "--user=alice:PASS", "-ualice:PASS", "--user", "bob:pw"]));
    assert_eq!(out, argv(&["curl", "--user=alice:[REDACTED]", "-ualice:[REDACTED]", "--user", "bob:[REDACTED]"]));
    assert_eq!(n, 3);
}

#[test]
fn header_yaml_and_json_fields_lose_their_values() {
    let r = Redactor::default();
    check(
        &r,
        &[
            ("Authorization: Basic dXNlcjpQQVNT", "Authorization: Basic [REDACTED]"),
            ("authorization: Digest abc.def", "authorization: Digest [REDACTED]"),
            ("Proxy-Authorization: Negotiate YIIabc==", "Proxy-Authorization: Negotiate [REDACTED]"),
            ("Authorization: s3cr3tvalue", "Authorization: [REDACTED]"),
            ("Authorization: Bearer abcdefghijklmnop", "Authorization: [REDACTED]"),
            ("X-Api-Key: v4lue", "X-Api-Key: [REDACTED]"),
            ("X-Api-Key:v4lue", "X-Api-Key:[REDACTED]"),
            ("password: hunter2", "password: [REDACTED]"),
            ("db:\n  password: \"hunter 2\"", "db:\n  password: \"[REDACTED]\""),
            ("password: 'hunter 2' next", "password: '[REDACTED]' next"),
            ("password: hunter2 and more", "password: [REDACTED] and more"),
            (r#"{"password":"hunter2"}"#, r#"{"password":"[REDACTED]"}"#),
            (r#"{"user": "a", "api_key": "v\"x", "n": 1}"#, r#"{"user": "a", "api_key": "[REDACTED]", "n": 1}"#),
            (r#"{"pin":1,"password":12345}"#, r#"{"pin":1,"password":[REDACTED]}"#),
        ],
    );
    let (out, n) = r.redact_argv(&argv(&["curl", "-H", "Authorization: Basic dXNlcjpQQVNT", "-H", "X-Api-Key: v"]));
    assert_eq!(out[2], "Authorization: Basic [REDACTED]");
    assert_eq!(out[4], "X-Api-Key: [REDACTED]");
    assert_eq!(n, 2);
}

#[test]
fn url_passwords_with_slashes_and_at_signs_are_redacted_whole() {
    let r = Redactor::default();
    check(
        &r,
        &[
            ("https://u:ab/SECRET@host/x", "https://u:[REDACTED]@host/x"),
            ("https://u:p@SECRET@host", "https://u:[REDACTED]@host"),
            ("git clone https://u:p@SECRET@host/a@b.git", "git clone https://u:[REDACTED]@host/a@b.git"),
            ("https://u:p@registry/@scope/pkg", "https://u:[REDACTED]@registry/@scope/pkg"),
            ("'https://u:a/b@c@host' x", "'https://u:[REDACTED]@host' x"),
            ("postgres://app:s3cret@db:5432/x", "postgres://app:[REDACTED]@db:5432/x"),
        ],
    );
}

#[test]
fn environment_style_values_are_redacted() {
    let r = Redactor::default();
    check(
        &r,
        &[
            ("DB_PASSWORD=/Sx9-abc", "DB_PASSWORD=[REDACTED]"),
            ("MYSQL_PWD=hunter2", "MYSQL_PWD=[REDACTED]"),
            ("SENTRY_DSN=https://k@o1.ingest.sentry.io/1", "SENTRY_DSN=[REDACTED]"),
            ("DATABASE_DSN=user:pw@tcp(h)/db", "DATABASE_DSN=[REDACTED]"),
        ],
    );
    for n in ["MYSQL_PWD", "db-pwd", "SENTRY_DSN"] {
        assert!(is_secret_name(n), "{n}");
    }
    for n in ["PWD", "pwd", "--pwd", "OLDPWD", "DSNX"] {
        assert!(!is_secret_name(n), "{n}");
    }
}

#[test]
fn a_secret_named_variable_whose_value_starts_with_a_slash_is_still_a_secret() {
    assert!(!is_existing_path("/Sx9-no-such-path-9f3a"));
    assert!(is_existing_path("/"));
    assert!(!is_existing_path("relative"));
}

#[test]
fn ordinary_text_is_not_taken_for_a_secret() {
    let r = Redactor::default();
    for keep in [
        "--user=alice",
        "--user alice",
        "-u alice",
        "mkdir -p build/out",
        "Authorization failed for this request",
        "the Authorization header is missing",
        "/home/u/PWD/x",
        "cd $PWD && make",
        "PWD=/home/u",
        "echo $PWD:$HOME",
        "sqlmap -u https://target/x",
        "https://registry.example:443/@scope/pkg",
        "http://localhost:8080/a@b",
        "open /home/u/.aws/credentials: denied",
        "session:1234",
        "landlock: abi 3",
        "key=",
        r#"{"task":"t","kind":"file"}"#,
        "time: 12:30",
    ] {
        assert_eq!(r.redact(keep), keep, "{keep:?}");
    }
    let (out, n) = r.redact_argv(&argv(&["sqlmap", "-u", "https://target/x", "mkdir", "-p", "d"]));
    assert_eq!((out, n), (argv(&["sqlmap", "-u", "https://target/x", "mkdir", "-p", "d"]), 0));
}

#[test]
fn documented_best_effort_limits_stay() {
    let r = Redactor::default();
    // Unlabelled values are not recognised (FORMAT.md §5.4).
    let (out, n) = r.redact_argv(&argv(&["mysql", "-P", "v4lue", "-phunter2", "token", "v4lue"]));
    assert_eq!((out, n), (argv(&["mysql", "-P", "v4lue", "-phunter2", "token", "v4lue"]), 0));
}

#[test]
fn redaction_is_idempotent() {
    let r = Redactor::default();
    for t in [
        "Authorization: Basic abc",
        "https://u:a/b@c@h",
        "--user=a:b",
        r#"{"password":"x"}"#,
        "password: x",
        "MYSQL_PWD=x",
    ] {
        let once = r.redact(t);
        assert_eq!(r.redact(&once), once, "{t:?}");
    }
}

#[test]
fn every_credential_shape_holds_one_of_its_needles() {
    // A match without the pattern's needle would be skipped: each sample is
    // redacted, in any case for the one compared without case.
    let samples = [
        "sk-abcdefghijklmnop1234",
        "ghp_abcdefghijklmnopqrstuv12",
        "gho_abcdefghijklmnopqrstuv12",
        "ghu_abcdefghijklmnopqrstuv12",
        "ghs_abcdefghijklmnopqrstuv12",
        "ghr_abcdefghijklmnopqrstuv12",
        "github_pat_abcdefghijklmnopqrstuv",
        "glpat-abcdefghijklmnopqrstu",
        "AKIAABCDEFGHIJKLMNOP",
        "ASIAABCDEFGHIJKLMNOP",
        "xoxb-1234567890ab",
        "Authorization: BeArEr abcdefghijklmnop",
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
    ];
    let r = Redactor::new(vec![]);
    for s in samples {
        let out = r.redact(&format!("x {s} y"));
        assert!(out.contains(REDACTED) && !out.contains(&s[s.len() - 8..]), "{s}: {out}");
    }
}

/// Pieces of text around the labels the rules look for: names secret and
/// not, every separator, quote and lead character, Unicode whitespace.
const PIECES: &[&str] = &[
    "password",
    "token",
    "KEY",
    "monkey",
    "auth",
    "Authorization",
    "x-api-key",
    "api_key",
    "PWD",
    "MYSQL_PWD",
    "path",
    "user",
    "-u",
    "--user",
    "--user=",
    "x",
    "1",
    "é",
    " ",
    "\t",
    "\n",
    "\u{a0}",
    ":",
    "=",
    "\"",
    "'",
    "{",
    "}",
    "[",
    "]",
    "(",
    ",",
    ";",
    "\\",
    "-",
    "_",
    ".",
    "/",
    "@",
    "&",
    "Basic",
    "Bearer",
    REDACTED,
    "\"password\"",
    "\"token\":",
    "\"path\"",
    "\"a\\\\b\"",
    "\"x-api-key\" :",
    "password: ",
    "secret:",
    "Authorization: Basic x",
    "--user=a:b",
    "-u a:b",
    "api_key=",
    "nofile=1",
    "cpu_secs=600",
    "memory:/sys",
];

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
    #[test]
    fn the_rules_skipped_for_a_text_would_not_have_changed_it(
        picks in proptest::collection::vec(0..PIECES.len(), 0..14)
    ) {
        let text: String = picks.iter().map(|&i| PIECES[i]).collect();
        let r = Redactor::default();
        proptest::prop_assert_eq!(r.redact(&text), r.redact_with(&text, Rules::All), "{:?}", text);
    }
}

#[test]
fn the_rules_run_where_a_label_is_a_secret_name() {
    for (text, sep) in [("A_TOKEN=x", b'='), ("a b.password: x", b':'), ("x=1 --api-key=2", b'=')] {
        assert!(names_a_secret_before(text, sep), "{text}");
    }
    for (text, sep) in [("nofile=1024 cpu_secs=600", b'='), ("cgroup: v1 memory:/sys", b':'), ("=x", b'=')] {
        assert!(!names_a_secret_before(text, sep), "{text}");
    }
    // What an exec's own records say is left to no rule.
    let r = Redactor::default();
    let detail = "rlimits: nofile=1024 cpu_secs=600 cpu_hard_secs=630 fsize=1073741824 as=unset nproc=unset core=0";
    assert_eq!(r.redact(detail), detail);
    let detail = "cgroup: cgroup v1 memory:/sys/fs/cgroup/memory/orchestra-1 (memory.max 2 GiB), pids:/sys/fs/cgroup/pids/orchestra-1 (pids.max 512)";
    assert_eq!(r.redact(detail), detail);
}
