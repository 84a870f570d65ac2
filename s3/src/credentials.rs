//! Finding credentials, in the order the AWS tools use: the configuration's own keys, the
//! environment (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`), then a profile of the shared
//! credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else `~/.aws/credentials`).

use crate::S3Config;
use std::path::PathBuf;

#[derive(Clone, PartialEq)]
pub struct Credentials {
    pub access_key: String,
    pub secret_key: String,
    pub session_token: Option<String>,
    pub source: CredentialsSource,
}

/// Where credentials came from, for messages (never the keys themselves).
#[derive(Debug, Clone, PartialEq)]
pub enum CredentialsSource {
    Configuration,
    Environment,
    Profile { name: String, file: PathBuf },
}

impl std::fmt::Display for CredentialsSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CredentialsSource::Configuration => write!(f, "the configuration's access_key"),
            CredentialsSource::Environment => write!(f, "AWS_ACCESS_KEY_ID"),
            CredentialsSource::Profile { name, file } => {
                write!(f, "profile \"{name}\" of {}", file.display())
            }
        }
    }
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials(from {})", self.source)
    }
}

impl Credentials {
    /// The credentials `config` leads to, or why there are none.
    pub fn find(config: &S3Config) -> Result<Credentials, String> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        match (&config.access_key, &config.secret_key) {
            (Some(access_key), Some(secret_key)) => {
                return Ok(Credentials {
                    access_key: access_key.clone(),
                    secret_key: secret_key.clone(),
                    session_token: None,
                    source: CredentialsSource::Configuration,
                })
            }
            (Some(_), None) => return Err("access_key is set without secret_key".into()),
            (None, Some(_)) => return Err("secret_key is set without access_key".into()),
            (None, None) => {}
        }
        let named = config.profile.clone().or_else(|| env("AWS_PROFILE"));
        if named.is_none() {
            match (env("AWS_ACCESS_KEY_ID"), env("AWS_SECRET_ACCESS_KEY")) {
                (Some(access_key), Some(secret_key)) => {
                    return Ok(Credentials {
                        access_key,
                        secret_key,
                        session_token: env("AWS_SESSION_TOKEN"),
                        source: CredentialsSource::Environment,
                    })
                }
                (Some(_), None) => {
                    return Err("AWS_ACCESS_KEY_ID is set without AWS_SECRET_ACCESS_KEY".into())
                }
                _ => {}
            }
        }
        let file = env("AWS_SHARED_CREDENTIALS_FILE")
            .map(PathBuf::from)
            .or_else(|| env("HOME").map(|home| PathBuf::from(home).join(".aws/credentials")));
        let name = named.clone().unwrap_or_else(|| "default".into());
        let text = file.as_ref().and_then(|f| std::fs::read_to_string(f).ok());
        if let (Some(file), Some(text)) = (&file, &text) {
            if let Some(found) = profile(text, &name) {
                return found
                    .map(|(access_key, secret_key, session_token)| Credentials {
                        access_key,
                        secret_key,
                        session_token,
                        source: CredentialsSource::Profile {
                            name: name.clone(),
                            file: file.clone(),
                        },
                    })
                    .map_err(|missing| {
                        format!("profile \"{name}\" of {} has no {missing}", file.display())
                    });
            }
        }
        let place = match &file {
            Some(f) => f.display().to_string(),
            None => "~/.aws/credentials".into(),
        };
        Err(match named {
            Some(name) => format!("there is no profile \"{name}\" in {place}"),
            None => format!(
                "no S3 credentials: set access_key and secret_key, or AWS_ACCESS_KEY_ID and \
                 AWS_SECRET_ACCESS_KEY, or AWS_PROFILE (or a default profile in {place})"
            ),
        })
    }
}

type ProfileKeys = (String, String, Option<String>);

/// The keys of profile `name` in a shared credentials file: `None` when the file has no such
/// section, `Err(missing key)` when it lacks one.
fn profile(text: &str, name: &str) -> Option<Result<ProfileKeys, &'static str>> {
    let mut in_section = false;
    let mut found = false;
    let (mut access, mut secret, mut token) = (None, None, None);
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') || line.starts_with(';') || line.is_empty() {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let section = section.trim();
            in_section = section == name || section.strip_prefix("profile ") == Some(name);
            found |= in_section;
            continue;
        }
        if !in_section {
            continue;
        }
        if let Some((key, value)) = line.split_once('=') {
            let value = value.trim().to_string();
            match key.trim() {
                "aws_access_key_id" => access = Some(value),
                "aws_secret_access_key" => secret = Some(value),
                "aws_session_token" => token = Some(value),
                _ => {}
            }
        }
    }
    if !found {
        return None;
    }
    Some(match (access, secret) {
        (Some(a), Some(s)) => Ok((a, s, token)),
        (None, _) => Err("aws_access_key_id"),
        (_, None) => Err("aws_secret_access_key"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_is_read_from_its_section_only() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\n\
                    [ci]\n# comment\naws_access_key_id=C\naws_secret_access_key= D\naws_session_token = T\n\
                    [broken]\naws_access_key_id = E\n";
        assert_eq!(
            profile(text, "default"),
            Some(Ok(("A".into(), "B".into(), None)))
        );
        assert_eq!(
            profile(text, "ci"),
            Some(Ok(("C".into(), "D".into(), Some("T".into()))))
        );
        assert_eq!(profile(text, "broken"), Some(Err("aws_secret_access_key")));
        assert_eq!(profile(text, "other"), None);
    }

    #[test]
    fn keys_of_the_configuration_come_first_and_must_come_in_pairs() {
        let mut config = S3Config::new("b");
        config.access_key = Some("k".into());
        assert!(Credentials::find(&config)
            .unwrap_err()
            .contains("without secret_key"));
        config.secret_key = Some("topsecretvalue".into());
        let found = Credentials::find(&config).unwrap();
        assert_eq!(found.source, CredentialsSource::Configuration);
        assert_eq!(found.secret_key, "topsecretvalue");
        let shown = format!("{found:?} {config:?}");
        assert!(!shown.contains("topsecretvalue"), "{shown}");
    }
}
