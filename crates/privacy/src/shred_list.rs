//! The shred list: every person erased, one per line, kept beside the key file and outside the
//! database. A database restored from a backup taken before an erasure still holds that
//! person's wrapped data key and blind indexes; at start Gatehouse erases everyone on the list
//! again, so a restore never brings an erased person back. The list names only account numbers.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use gatehouse_domain::data_key::DataSubject;

use crate::PrivacyError;

#[derive(Debug, Clone)]
pub struct ShredList {
    path: PathBuf,
}

impl ShredList {
    pub fn at(path: &Path) -> Self {
        Self {
            path: path.to_path_buf(),
        }
    }

    fn io_err(&self, source: std::io::Error) -> PrivacyError {
        PrivacyError::KeyFile {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Adds `subject`, durably, before its erasure starts (an erasure cut short is finished at
    /// the next start).
    pub fn append(&self, subject: &DataSubject) -> Result<(), PrivacyError> {
        let mut options = OpenOptions::new();
        options.append(true).create(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&self.path).map_err(|e| self.io_err(e))?;
        file.write_all(format!("{subject}\n").as_bytes())
            .map_err(|e| self.io_err(e))?;
        file.sync_all().map_err(|e| self.io_err(e))
    }

    /// Everyone on the list, in order, each once (an absent file is an empty list). A line that
    /// does not parse is an error: a damaged list must not silently let someone back.
    pub fn read(&self) -> Result<Vec<DataSubject>, PrivacyError> {
        let text = match std::fs::read_to_string(&self.path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(self.io_err(e)),
        };
        let mut out: Vec<DataSubject> = Vec::new();
        for (n, line) in text
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
        {
            let subject = DataSubject::parse(line.trim()).ok_or_else(|| {
                PrivacyError::BadKeys(format!(
                    "shred list {} line {}: `{line}` is not a subject",
                    self.path.display(),
                    n + 1
                ))
            })?;
            if !out.contains(&subject) {
                out.push(subject);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gatehouse_domain::order::AccountId;

    #[test]
    fn entries_survive_reopening_once_each_and_damage_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let list = ShredList::at(&dir.path().join("shredded"));
        assert!(list.read().unwrap().is_empty());
        list.append(&DataSubject::Account(AccountId(4))).unwrap();
        list.append(&DataSubject::Account(AccountId(9))).unwrap();
        list.append(&DataSubject::Account(AccountId(4))).unwrap();
        let again = ShredList::at(&dir.path().join("shredded"));
        assert_eq!(
            again.read().unwrap(),
            vec![
                DataSubject::Account(AccountId(4)),
                DataSubject::Account(AccountId(9))
            ]
        );
        std::fs::write(dir.path().join("shredded"), "account/4\ngarbage\n").unwrap();
        assert!(again.read().unwrap_err().to_string().contains("line 2"));
    }
}
