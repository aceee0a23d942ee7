//! C2SP tlog checkpoints (c2sp.org/tlog-checkpoint): the note text
//! `<origin>\n<tree size>\n<base64 root>\n[extension lines]`, signed as a
//! [`crate::note`].

use base64::Engine;

use crate::merkle::Hash;
use crate::note::NoteError;

/// A checkpoint body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's identity (bosun: the workspace name).
    pub origin: String,
    /// Leaves in the tree.
    pub size: u64,
    /// The tree's root hash.
    pub root: Hash,
    /// Opaque extension lines (bosun writes none).
    pub extensions: Vec<String>,
}

impl Checkpoint {
    /// The note text, with its final newline.
    pub fn text(&self) -> String {
        let mut s = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.size,
            base64::engine::general_purpose::STANDARD.encode(self.root)
        );
        for e in &self.extensions {
            s.push_str(e);
            s.push('\n');
        }
        s
    }

    /// Reads a checkpoint body (a note's text), strictly: a non-empty
    /// origin, a decimal size without leading zeros, a base64 root of 32
    /// bytes, non-empty extension lines.
    pub fn parse(text: &str) -> Result<Checkpoint, NoteError> {
        let bad = |why: String| NoteError::Malformed(format!("checkpoint: {why}"));
        let body = text
            .strip_suffix('\n')
            .ok_or_else(|| bad("the text must end in a newline".into()))?;
        let mut lines = body.split('\n');
        let origin = lines.next().unwrap_or_default();
        if origin.is_empty() {
            return Err(bad("the origin line is empty".into()));
        }
        let size = lines
            .next()
            .ok_or_else(|| bad("no tree size line".into()))?;
        if size.is_empty()
            || !size.bytes().all(|b| b.is_ascii_digit())
            || (size.len() > 1 && size.starts_with('0'))
        {
            return Err(bad(format!(
                "tree size `{size}` is not a decimal number without leading zeros"
            )));
        }
        let size: u64 = size
            .parse()
            .map_err(|_| bad(format!("tree size `{size}` is too large")))?;
        let root_line = lines
            .next()
            .ok_or_else(|| bad("no root hash line".into()))?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(root_line)
            .map_err(|e| bad(format!("root hash: {e}")))?;
        let root = Hash::try_from(raw.as_slice())
            .map_err(|_| bad(format!("the root hash is {} bytes, not 32", raw.len())))?;
        let extensions: Vec<String> = lines.map(str::to_string).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(bad("an extension line is empty".into()));
        }
        Ok(Checkpoint {
            origin: origin.to_string(),
            size,
            root,
            extensions,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::{Note, NoteSigner, sign};

    #[test]
    fn the_c2sp_example_round_trips() {
        let ex = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n";
        let n = Note::parse(ex.as_bytes()).unwrap();
        let c = Checkpoint::parse(&n.text).unwrap();
        assert_eq!(c.origin, "example.com/behind-the-sofa");
        assert_eq!(c.size, 20_852_163);
        assert_eq!(c.text(), n.text);
    }

    #[test]
    fn signed_checkpoints_verify_and_bad_ones_are_refused() {
        let signer = NoteSigner::new("homelab", bosun_sign::SecretKey::from_seed([7; 32])).unwrap();
        let c = Checkpoint {
            origin: "homelab".into(),
            size: 3,
            root: [9; 32],
            extensions: vec![],
        };
        let note = sign(&c.text(), &[&signer]).unwrap();
        let back = Note::parse(note.encode().as_bytes()).unwrap();
        back.verify(&[signer.verifier()]).unwrap();
        assert_eq!(Checkpoint::parse(&back.text).unwrap(), c);
        for bad in [
            "homelab\n03\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n",
            "homelab\n-3\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n",
            "homelab\n3\nCQkJ\n",
            "\n3\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n",
            "homelab\n3\n",
            "homelab\n3\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=",
            "homelab\n99999999999999999999999\nCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQk=\n",
        ] {
            assert!(Checkpoint::parse(bad).is_err(), "{bad:?}");
        }
    }

    use proptest::prelude::*;

    proptest! {
        #[test]
        fn parsing_never_panics_and_round_trips(
            text in "\\PC{0,200}",
            origin in "[a-z./]{1,30}",
            size in any::<u64>(),
            root in proptest::array::uniform32(any::<u8>()),
        ) {
            let _ = Checkpoint::parse(&text);
            let c = Checkpoint { origin, size, root, extensions: vec![] };
            prop_assert_eq!(Checkpoint::parse(&c.text()).unwrap(), c);
        }
    }
}
