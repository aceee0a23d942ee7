//! What several verbs take from the command line the same way: runbook
//! params (`-p k=v`, `-p @file`) and `--target` selectors.

use std::collections::BTreeMap;
use std::path::Path;

use bosun_control::Result;
use bosun_model::Name;
use serde_json::Value;

use super::other;

/// The largest params file `-p @file` reads.
pub(crate) const MAX_PARAMS_FILE: u64 = 1024 * 1024;

/// The params of `-p` arguments, in order (a later one wins): `k=v`, or
/// `@file.toml` / `@file.yaml` / `@file.json` holding a table of them.
pub(crate) fn parse_params(ps: &[String]) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for p in ps {
        if let Some(file) = p.strip_prefix('@') {
            out.extend(params_file(Path::new(file))?);
            continue;
        }
        let Some((k, v)) = p.split_once('=') else {
            return Err(other(format!(
                "--param `{p}` is not of the form key=value (or @file.toml, @file.yaml, @file.json)"
            )));
        };
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// The params in `path`: a table of strings, numbers or booleans, read
/// as TOML, YAML or JSON by its extension.
fn params_file(path: &Path) -> Result<BTreeMap<String, String>> {
    let name = path.display();
    let meta = std::fs::metadata(path).map_err(|e| other(format!("-p @{name}: {e}")))?;
    if meta.len() > MAX_PARAMS_FILE {
        return Err(other(format!(
            "-p @{name}: {} bytes, over the {} KiB a params file may hold",
            meta.len(),
            MAX_PARAMS_FILE / 1024
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| other(format!("-p @{name}: {e}")))?;
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    let table: BTreeMap<String, Value> = match ext {
        "toml" => toml::from_str(&text).map_err(|e| other(format!("-p @{name}: {e}")))?,
        "yaml" | "yml" => {
            serde_saphyr::from_str(&text).map_err(|e| other(format!("-p @{name}: {e}")))?
        }
        "json" => serde_json::from_str(&text)
            .map_err(|e| other(format!("-p @{name}:{}:{}: {e}", e.line(), e.column())))?,
        _ => {
            return Err(other(format!(
                "-p @{name}: name a .toml, .yaml or .json file"
            )));
        }
    };
    table
        .into_iter()
        .map(|(k, v)| {
            let v = match v {
                Value::String(s) => s,
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => {
                    return Err(other(format!(
                        "-p @{name}: `{k}` is not a string, number or boolean"
                    )));
                }
            };
            Ok((k, v))
        })
        .collect()
}

/// The hosts `--target` selectors pick from the inventory in force (names,
/// `*` globs, `tag:x`, `arch:a`, `!…` to take out; infra hosts by name
/// only): what the op is signed for.
pub(crate) fn targets(inv: &bosun_workspace::Inventory, ts: &[String]) -> Result<Vec<Name>> {
    if ts.is_empty() {
        return Err(other(
            "no target hosts: give at least one `--target <selector>` (a host, web-*, tag:x, arch:aarch64, !tag:x)",
        ));
    }
    Ok(inv
        .select(ts)
        .map_err(|e| other(format!("--target: {e}")))?
        .into_iter()
        .map(|h| h.name)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::parse_params;

    #[test]
    fn params_come_from_arguments_and_files_a_later_one_winning() {
        let dir = tempfile::tempdir().unwrap();
        let toml = dir.path().join("p.toml");
        std::fs::write(&toml, "version = \"1.2\"\nretries = 3\nforce = true\n").unwrap();
        let yaml = dir.path().join("p.yaml");
        std::fs::write(&yaml, "version: '2.0'\n").unwrap();
        let json = dir.path().join("p.json");
        std::fs::write(&json, r#"{"package": "qat"}"#).unwrap();
        let args = [
            format!("@{}", toml.display()),
            format!("@{}", yaml.display()),
            format!("@{}", json.display()),
            "force=false".to_string(),
        ];
        let p = parse_params(&args).unwrap();
        assert_eq!(p["version"], "2.0");
        assert_eq!(p["retries"], "3");
        assert_eq!(p["force"], "false");
        assert_eq!(p["package"], "qat");
    }

    #[test]
    fn a_bad_params_file_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let nested = dir.path().join("n.json");
        std::fs::write(&nested, r#"{"a": {"b": 1}}"#).unwrap();
        let e = parse_params(&[format!("@{}", nested.display())]).unwrap_err();
        assert!(
            e.to_string().contains("n.json") && e.to_string().contains("`a`"),
            "{e}"
        );
        let big = dir.path().join("big.toml");
        std::fs::write(&big, "x".repeat(2 * 1024 * 1024)).unwrap();
        let e = parse_params(&[format!("@{}", big.display())]).unwrap_err();
        assert!(e.to_string().contains("big.toml"), "{e}");
        let e = parse_params(&["@/no/such.toml".to_string()]).unwrap_err();
        assert!(e.to_string().contains("/no/such.toml"), "{e}");
    }
}
