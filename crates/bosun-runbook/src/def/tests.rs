//! Tests of the runbook format and its validation: parsing, located
//! errors, properties over arbitrary input, dependency graphs, the three
//! syntaxes, and shell arithmetic.

mod parse {
    use crate::def::*;

    const GOOD: &str = r#"
id = "disk-usage"
description = "Report disk usage"
read_only = true

[params.path]
type = "string"
default = "/"

[[steps]]
id = "df"
cmd = "df -h {{ params.path }}"
"#;

    #[test]
    fn parses_good() {
        let rb = parse_runbook("runbooks/disk-usage.toml", GOOD).unwrap();
        assert_eq!(rb.id.as_str(), "disk-usage");
        assert!(rb.read_only);
        assert_eq!(rb.steps.len(), 1);
    }

    #[test]
    fn duplicate_step_is_located() {
        let text = format!("{GOOD}\n[[steps]]\nid = \"df\"\ncmd = \"true\"\n");
        let e = parse_runbook("r.toml", &text).unwrap_err();
        assert!(e.to_string().contains("duplicate step id `df`"), "{e}");
        assert!(e.to_string().starts_with("r.toml:"), "{e}");
    }

    #[test]
    fn unknown_field_is_located() {
        let e = parse_runbook(
            "r.toml",
            "id = \"x\"\nbogus = 1\n[[steps]]\nid=\"a\"\ncmd=\"b\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("r.toml:2:1:"), "{e}");
    }

    #[test]
    fn bad_default_refused() {
        let e = parse_runbook(
            "r.toml",
            "id = \"x\"\n[params.n]\ntype = \"int\"\ndefault = \"many\"\n[[steps]]\nid=\"a\"\ncmd=\"b\"\n",
        )
        .unwrap_err();
        assert!(e.to_string().contains("not an integer"), "{e}");
    }
}

mod props {
    use crate::def::*;
    use proptest::prelude::*;

    const VALID: &str = "id = \"r\"\nread_only = true\n[params.p]\ntype = \"int\"\ndefault = 3\n[[steps]]\nid = \"a\"\ncmd = \"echo {{ params.p }}\"\n[[steps]]\nid = \"b\"\ncmd = \"true\"\n";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn arbitrary_text_never_panics(s in "\\PC{0,400}") {
            let _ = parse_runbook("r.toml", &s);
            let _ = parse_runbook("r.yaml", &s);
            let _ = parse_runbook("r.json", &s);
        }

        #[test]
        fn mutated_yaml_never_panics(pos in 0usize..200, byte in any::<u8>()) {
            let yaml = "id: r\nread_only: true\nparams:\n  p: { type: int, default: 3 }\nsteps:\n  - id: a\n    cmd: echo {{ params.p }}\n  - id: b\n    cmd: 'true'\n    depends_on: [{ step: a, kind: always }]\n";
            let mut b = yaml.as_bytes().to_vec();
            let i = pos % b.len();
            b[i] = byte;
            if let Ok(text) = String::from_utf8(b)
                && let Err(e) = parse_runbook("r.yaml", &text)
            {
                for err in &e.0 {
                    prop_assert!(err.line >= 1);
                }
            }
        }

        #[test]
        fn mutated_runbooks_never_panic_and_errors_are_located(pos in 0usize..200, byte in any::<u8>()) {
            let mut b = VALID.as_bytes().to_vec();
            let i = pos % b.len();
            b[i] = byte;
            if let Ok(text) = String::from_utf8(b)
                && let Err(e) = parse_runbook("r.toml", &text)
            {
                for err in &e.0 {
                    prop_assert_eq!(err.path.as_str(), "r.toml");
                    prop_assert!(err.line >= 1 && err.line <= text.lines().count().max(1) + 1);
                }
            }
        }
    }
}

mod dag_tests {
    use crate::def::*;

    fn errs(text: &str) -> String {
        parse_runbook("r.toml", text).unwrap_err().to_string()
    }

    #[test]
    fn unknown_dependency_is_located() {
        let e = errs(
            "id = \"x\"\n[[steps]]\nid = \"a\"\ncmd = \"true\"\ndepends_on = [{ step = \"nope\" }]\n",
        );
        assert!(
            e.starts_with("r.toml:5:") && e.contains("depends on `nope`"),
            "{e}"
        );
    }

    #[test]
    fn cycles_are_named() {
        let e = errs(
            "id = \"x\"\n[[steps]]\nid = \"a\"\ncmd = \"true\"\ndepends_on = [{ step = \"c\" }]\n\
             [[steps]]\nid = \"b\"\ncmd = \"true\"\ndepends_on = [{ step = \"a\" }]\n\
             [[steps]]\nid = \"c\"\ncmd = \"true\"\ndepends_on = [{ step = \"b\", kind = \"always\" }]\n",
        );
        assert!(e.contains("cycle: a → c → b → a"), "{e}");
    }

    #[test]
    fn human_steps_have_no_command_and_agent_steps_need_one() {
        let e = errs("id = \"x\"\n[[steps]]\nid = \"ok\"\nactor = \"human\"\ncmd = \"rm -rf /\"\n");
        assert!(e.contains("human step with a command"), "{e}");
        let e = errs("id = \"x\"\n[[steps]]\nid = \"a\"\n");
        assert!(e.contains("needs a `cmd`"), "{e}");
        assert!(
            parse_runbook(
                "r.toml",
                "id = \"x\"\n[[steps]]\nid = \"h\"\nactor = \"human\"\nnote = \"flip the switch\"\n"
            )
            .is_ok()
        );
    }

    #[test]
    fn unknown_params_in_templates_and_bad_durations_are_refused() {
        let e = errs(
            "id = \"x\"\n[[steps]]\nid = \"a\"\ncmd = \"echo {{ params.nope }}\"\ntimeout = \"soon\"\non_error = { strategy = \"retry\" }\n",
        );
        assert!(e.contains("params.nope"), "{e}");
        assert!(e.contains("timeout `soon`"), "{e}");
        assert!(e.contains("needs `max`"), "{e}");
    }

    #[test]
    fn topo_order_respects_dependencies_and_file_order() {
        let rb = parse_runbook(
            "r.toml",
            "id = \"x\"\n[[steps]]\nid = \"c\"\ncmd = \"true\"\ndepends_on = [{ step = \"b\" }]\n\
             [[steps]]\nid = \"a\"\ncmd = \"true\"\n[[steps]]\nid = \"b\"\ncmd = \"true\"\n",
        )
        .unwrap();
        let order: Vec<&str> = topo_order(&rb)
            .unwrap()
            .into_iter()
            .map(|i| rb.steps[i].id.as_str())
            .collect();
        assert_eq!(order, vec!["a", "b", "c"]);
    }

    #[test]
    fn the_seed_002_mode_loads() {
        let text = include_str!("../../../../examples/runbooks/ops-radicle-build-info.toml");
        let rb = parse_runbook("examples/runbooks/ops-radicle-build-info.toml", text).unwrap();
        assert_eq!(rb.steps.len(), 10);
        assert!(
            rb.steps
                .iter()
                .all(|s| s.on_error.strategy == Strategy::Continue)
        );
        let m = crate::mermaid(&rb);
        assert!(
            m.contains("ops_command_flow -- always --> signing_mode_switch"),
            "{m}"
        );
    }
}

mod format_tests {
    use crate::def::*;

    const TOML: &str = include_str!("../../../../examples/runbooks/motd.toml");

    const YAML: &str = r#"
id: motd
description: Stage a message of the day, let a human look at it, then install it
read_only: false
params:
  message: { type: string, required: true, description: the text to show at login }
  dir: { type: path, default: /etc, description: where motd lives }
steps:
  - id: stage
    action: write motd.new
    cmd: "printf '%s\\n' {{ params.message | quote }} > {{ params.dir }}/motd.new && echo staged on {{ host.name }}"
    check: "test -w {{ params.dir }} && echo would write {{ params.dir }}/motd.new on {{ host.name }}"
    idempotent: true
    timeout: 1m
  - id: review
    actor: human
    action: read motd.new on every host
    note: "then: bosun step report <jti> review --status pass --as <you>"
    depends_on: [{ step: stage }]
  - id: install
    action: put it in place
    cmd: "cp {{ params.dir }}/motd.new {{ params.dir }}/motd && echo installed on {{ host.name }}"
    check: "cmp -s {{ params.dir }}/motd.new {{ params.dir }}/motd && echo unchanged || echo would change {{ params.dir }}/motd"
    depends_on: [{ step: review }]
    idempotent: true
"#;

    #[test]
    fn yaml_and_json_mean_the_same_as_toml() {
        let t = parse_runbook("runbooks/motd.toml", TOML).unwrap();
        let y = parse_runbook("runbooks/motd.yaml", YAML).unwrap();
        assert_eq!(t, y);
        assert_eq!(t.digest(), y.digest(), "the digest is of the meaning");
        // What `nickel export` (or any JSON tool) writes.
        let json = serde_json::to_string_pretty(&t).unwrap();
        let j = parse_runbook("runbooks/motd.json", &json).unwrap();
        assert_eq!(t, j);
        // Adopted text has no file name: its format is recognised.
        assert_eq!(Format::sniff(TOML), Format::Toml);
        assert_eq!(Format::sniff(YAML), Format::Yaml);
        assert_eq!(Format::sniff(&json), Format::Json);
    }

    #[test]
    fn yaml_and_json_errors_are_located() {
        let e = parse_runbook("r.yaml", "id: x\nsteps:\n  - id: a\n    cmdd: true\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("r.yaml:4:"), "{e}");
        assert!(e.contains("cmdd"), "{e}");
        let e = parse_runbook("r.json", "{\"id\": \"x\",\n \"steps\": [}")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("r.json:2:"), "{e}");
        // Semantic errors point into YAML too.
        let e = parse_runbook(
            "r.yaml",
            "id: x\nsteps:\n  - id: a\n    cmd: 'true'\n    depends_on: [{ step: nope }]\n",
        )
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("r.yaml:5:"), "{e}");
        assert!(e.contains("`nope`, which is not a step"), "{e}");
    }

    #[test]
    fn yaml_alias_bombs_are_refused() {
        let mut bomb = String::from("a: &a [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 0..12 {
            bomb.push_str(&format!(
                "{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n",
                n = format!("b{i}"),
                p = if i == 0 {
                    "a".to_string()
                } else {
                    format!("b{}", i - 1)
                }
            ));
        }
        bomb.push_str("id: x\nsteps: []\n");
        let started = std::time::Instant::now();
        assert!(parse_runbook("bomb.yaml", &bomb).is_err());
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }
}

mod arith_tests {
    use crate::def::*;

    #[test]
    fn only_int_params_go_into_shell_arithmetic() {
        let rb = |ty: &str| {
            parse_runbook(
                "r.toml",
                &format!(
                    "id = \"a\"\n[params.n]\ntype = \"{ty}\"\n[[steps]]\nid = \"s\"\ncmd = \"echo $(( {{{{ params.n }}}} + 1 ))\"\n"
                ),
            )
        };
        assert!(rb("int").is_ok());
        for ty in ["string", "version", "path"] {
            let e = rb(ty).unwrap_err().to_string();
            assert!(
                e.starts_with("r.toml:5:") && e.contains("shell arithmetic"),
                "{ty}: {e}"
            );
        }
    }
}

mod bars {
    use crate::def::*;

    const KERNEL: &str = r#"
id = "kernel-install"
verb = "install"

[params.version]
type = "version"
required = true

[[steps]]
id = "install"
cmd = "echo {{ params.version }} > kernel.version"

[[steps]]
id = "heartbeat"
cmd = "true"
bar = { kind = "heartbeat" }

[[steps]]
id = "version"
cmd = "cat kernel.version"
bar = { kind = "version", expect = "{{ params.version }}" }

[[steps]]
id = "burn-in"
cmd = "true"
bar = { kind = "burn_in", hold = "1s" }
"#;

    #[test]
    fn bar_steps_plan_as_bars_with_their_expected_value_as_text() {
        let rb = parse_runbook("runbooks/kernel-install.toml", KERNEL).unwrap();
        let host: bosun_model::Host = toml::from_str("name = \"ohm\"\n").unwrap();
        let params = [("version".to_string(), "7.0-1".to_string())].into();
        let plan = crate::plan(&rb, &[host], &params).unwrap();
        let bar = |id: &str| plan.steps.iter().find(|s| s.step.as_str() == id).unwrap();
        assert!(bar("install").bar.is_none());
        let v = bar("version").bar.clone().unwrap();
        assert_eq!(
            (v.kind.as_str(), v.expect.as_deref()),
            ("version", Some("7.0-1"))
        );
        assert!(bar("version").idempotent, "a bar is safe to run again");
        assert_eq!(bar("burn-in").bar.clone().unwrap().hold_secs, Some(1));
    }

    #[test]
    fn bad_bars_are_refused_with_their_step() {
        for (bad, says) in [
            (r#"bar = { kind = "vibes" }"#, "bar kind `vibes`"),
            (r#"bar = { kind = "version" }"#, "needs `expect`"),
            (
                r#"bar = { kind = "probe", expect = "x" }"#,
                "takes no `expect`",
            ),
            (r#"bar = { kind = "burn_in" }"#, "needs `hold`"),
            (
                r#"bar = { kind = "probe", hold = "1h" }"#,
                "only a burn_in bar",
            ),
            (r#"bar = { kind = "probe", extra = 1 }"#, "extra"),
            (
                r#"bar = { kind = "version", expect = "{{ params.nope }}" }"#,
                "nope",
            ),
        ] {
            let text = format!("id = \"r\"\n[[steps]]\nid = \"s\"\ncmd = \"true\"\n{bad}\n");
            let e = parse_runbook("runbooks/r.toml", &text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(says), "{bad}: {e}");
            assert!(e.contains("runbooks/r.toml:"), "{e}");
        }
    }
}
