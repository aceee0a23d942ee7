//! The kernel module's parsers of files an agent can write: a patch file
//! read by its hunk counts (`bosun_kernel::scan`), a host manifest
//! (`Manifest::parse`, YAML), a package index (`publish::parse_index`), a
//! lock and a job record (TOML), a check of bars 3 and 4
//! (`probe::parse`). The first byte picks which.
//!
//! Properties: nothing panics; a scanned patch's diff ends within it; the
//! diff without its trailer scans again to the same hunks and no trailer;
//! a check that parses prints to a line that parses to the same check and
//! carries none of the characters a shell would act on inside a word.

#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    if pick % 6 == 0 {
        let Ok(s) = bosun_kernel::scan("fuzz.patch", rest) else {
            return;
        };
        assert!(s.body_end <= rest.len());
        if s.trailer {
            let again = bosun_kernel::scan("fuzz.patch", s.body(rest))
                .expect("the diff without its trailer scans");
            assert!(!again.trailer);
            assert_eq!(again.hunks, s.hunks);
        }
    } else if let Ok(text) = std::str::from_utf8(rest) {
        match pick % 6 {
            1 => {
                let _ = bosun_kernel::Manifest::parse("fleet/fuzz.yaml", text);
            }
            2 => {
                if let Ok(entries) = bosun_kernel::publish::parse_index("Packages", text) {
                    // What parses renders to an index that parses the same.
                    let again = bosun_kernel::publish::render_index(&entries);
                    let back = bosun_kernel::publish::parse_index("Packages", &again)
                        .expect("a rendered index parses");
                    assert_eq!(back.len(), entries.len());
                }
            }
            3 => {
                let _ = bosun_kernel::Lock::parse("kernel/fuzz/manifest.lock", text);
            }
            4 => {
                if let Ok(c) = bosun_kernel::probe::parse(text) {
                    let line = c.to_string();
                    assert_eq!(bosun_kernel::probe::parse(&line).as_ref(), Ok(&c));
                    assert!(!line.contains(['\'', '"', '`', '$', '\\', '\n']));
                }
            }
            _ => {
                let _ = bosun_kernel::Job::parse("job.toml", text);
            }
        }
    }
});
