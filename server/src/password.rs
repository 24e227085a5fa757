//! Password hashing (argon2id) with bounded memory and bounded concurrency.
//!
//! Each argon2id run needs a 19 MiB working area. Allocated per run on
//! whichever blocking thread picks the job, those areas pile up: glibc raises
//! its mmap threshold after the first large free, so later areas come from
//! per-thread arenas that are never returned, and a flood of logins (even for
//! unknown emails) grows the process by gigabytes. Here a fixed number of
//! working areas is allocated once and reused: at most [`Hasher::slots`] runs
//! at a time, each on an area taken from the pool and put back after. The
//! memory is `slots × 19 MiB` for the life of the process, whatever arrives.
//!
//! Requests beyond the slots wait their turn, up to a bounded queue; beyond
//! that they are refused at once ([`Error::Busy`]), so a flood cannot pile up
//! waiting work either, and the async threads never run a hash, so status and
//! chat requests keep being served (see `docs/hardening.md`).

use std::sync::{Mutex, OnceLock};

use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::rngs::OsRng;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// Requests that may wait for a free slot, per slot.
const QUEUE_PER_SLOT: usize = 32;

/// The process's password hasher (see the module docs).
#[derive(Debug)]
pub struct Hasher {
    slots: usize,
    permits: Semaphore,
    /// Working areas not in use. Never more than `slots` exist.
    areas: Mutex<Vec<Box<[Block]>>>,
    /// Requests waiting for a slot or running, bounded by `max_pending`.
    pending: std::sync::atomic::AtomicUsize,
    max_pending: usize,
}

impl Hasher {
    /// A hasher running at most `slots` hashes at a time.
    pub fn new(slots: usize) -> Hasher {
        let slots = slots.max(1);
        Hasher {
            slots,
            permits: Semaphore::new(slots),
            areas: Mutex::new(Vec::with_capacity(slots)),
            pending: std::sync::atomic::AtomicUsize::new(0),
            max_pending: slots * (QUEUE_PER_SLOT + 1),
        }
    }

    /// The one hasher of this process: as many slots as CPUs (at most 8).
    pub fn global() -> &'static Hasher {
        static GLOBAL: OnceLock<Hasher> = OnceLock::new();
        GLOBAL.get_or_init(|| {
            let cpus = std::thread::available_parallelism().map_or(2, usize::from);
            Hasher::new(cpus.min(8))
        })
    }

    /// How many hashes may run at once.
    pub fn slots(&self) -> usize {
        self.slots
    }

    /// The working areas allocated so far (at most `slots`).
    pub fn areas_allocated(&self) -> usize {
        self.slots - self.permits.available_permits() + self.lock_areas().len()
    }

    /// A PHC string (`$argon2id$v=19$m=19456,t=2,p=1$…`) for `password`.
    pub async fn hash(&self, password: String) -> Result<String> {
        let salt = SaltString::generate(&mut OsRng);
        self.run(move |area| hash_with(area, &password, &salt))
            .await
    }

    /// Whether `password` matches the PHC string `stored`; with `None` it
    /// checks against a dummy hash, so an unknown email costs the same work as
    /// a wrong password, and answers `false`.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<bool> {
        let known = stored.is_some();
        let stored = stored.unwrap_or_else(|| dummy_hash().to_owned());
        let matches = self
            .run(move |area| verify_with(area, &password, &stored))
            .await?;
        Ok(matches && known)
    }

    /// Runs `work` on a blocking thread with a working area, once a slot is free.
    async fn run<T, F>(&self, work: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut [Block]) -> Result<T> + Send + 'static,
    {
        use std::sync::atomic::Ordering;
        let pending = self.pending.fetch_add(1, Ordering::AcqRel);
        let _pending = PendingGuard(&self.pending);
        if pending >= self.max_pending {
            return Err(Error::Busy { retry_after: 1 });
        }
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| Error::Internal("password hasher closed".into()))?;
        let mut area = self.lock_areas().pop().unwrap_or_else(new_area);
        let (area, result) = tokio::task::spawn_blocking(move || {
            let result = work(&mut area);
            (area, result)
        })
        .await
        .map_err(|e| Error::Internal(format!("password hashing stopped: {e}")))?;
        self.lock_areas().push(area);
        result
    }

    fn lock_areas(&self) -> std::sync::MutexGuard<'_, Vec<Box<[Block]>>> {
        self.areas.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct PendingGuard<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::AcqRel);
    }
}

/// A working area for the default parameters, the only ones we write.
fn new_area() -> Box<[Block]> {
    vec![Block::default(); Params::default().block_count()].into_boxed_slice()
}

fn hash_with(area: &mut [Block], password: &str, salt: &SaltString) -> Result<String> {
    let params = Params::default();
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| Error::Internal(format!("salt: {e}")))?;
    let mut out = [0u8; Params::DEFAULT_OUTPUT_LEN];
    argon2
        .hash_password_into_with_memory(password.as_bytes(), salt_raw, &mut out, area)
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: (&params)
            .try_into()
            .map_err(|e| Error::Internal(format!("argon2 parameters: {e}")))?,
        salt: Some(salt.as_salt()),
        hash: Some(Output::new(&out).map_err(|e| Error::Internal(format!("hash: {e}")))?),
    };
    Ok(phc.to_string())
}

fn verify_with(area: &mut [Block], password: &str, stored: &str) -> Result<bool> {
    let phc =
        PasswordHash::new(stored).map_err(|e| Error::Internal(format!("stored hash: {e}")))?;
    let algorithm = Algorithm::try_from(phc.algorithm)
        .map_err(|e| Error::Internal(format!("stored hash algorithm: {e}")))?;
    let version = phc
        .version
        .map(Version::try_from)
        .transpose()
        .map_err(|e| Error::Internal(format!("stored hash version: {e}")))?
        .unwrap_or_default();
    let params = Params::try_from(&phc)
        .map_err(|e| Error::Internal(format!("stored hash parameters: {e}")))?;
    if params.block_count() > area.len() {
        // Never written by us; refusing is better than a per-login allocation.
        return Err(Error::Internal(
            "stored hash needs more memory than the hasher allows".into(),
        ));
    }
    let (Some(salt), Some(expected)) = (phc.salt, phc.hash) else {
        return Err(Error::Internal("stored hash has no salt or output".into()));
    };
    let mut salt_bytes = [0u8; 64];
    let salt_raw = salt
        .decode_b64(&mut salt_bytes)
        .map_err(|e| Error::Internal(format!("stored salt: {e}")))?;
    let mut out = vec![0u8; expected.len()];
    Argon2::new(algorithm, version, params)
        .hash_password_into_with_memory(password.as_bytes(), salt_raw, &mut out, area)
        .map_err(|e| Error::Internal(format!("password hashing failed: {e}")))?;
    Ok(out.as_slice().ct_eq(expected.as_bytes()).into())
}

/// A hash of a random password, computed once, for unknown emails.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        // A password nobody knows: random, like the salt.
        let password = SaltString::generate(&mut OsRng);
        let mut area = new_area();
        hash_with(&mut area, password.as_str(), &salt).unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::{PasswordHasher, PasswordVerifier};

    use super::*;

    #[tokio::test]
    async fn our_hashes_verify_with_the_argon2_crate_and_its_hashes_with_ours() {
        let hasher = Hasher::new(1);
        let ours = hasher.hash("correct horse".into()).await.expect("hash");
        assert!(
            ours.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{ours}"
        );
        let parsed = PasswordHash::new(&ours).expect("a PHC string");
        assert!(
            Argon2::default()
                .verify_password(b"correct horse", &parsed)
                .is_ok()
        );
        assert!(
            Argon2::default()
                .verify_password(b"wrong horse", &parsed)
                .is_err()
        );

        let salt = SaltString::generate(&mut OsRng);
        let theirs = Argon2::default()
            .hash_password(b"battery staple", &salt)
            .expect("hash")
            .to_string();
        assert!(
            hasher
                .verify("battery staple".into(), Some(theirs.clone()))
                .await
                .expect("verify")
        );
        assert!(
            !hasher
                .verify("battery stapler".into(), Some(theirs))
                .await
                .expect("verify")
        );
    }

    #[tokio::test]
    async fn an_unknown_email_never_matches_even_with_the_dummy_password() {
        let hasher = Hasher::new(1);
        assert!(!hasher.verify(String::new(), None).await.expect("verify"));
    }

    #[tokio::test]
    async fn parallel_hashes_reuse_at_most_one_area_per_slot() {
        let hasher = std::sync::Arc::new(Hasher::new(2));
        let runs = (0..12).map(|n| {
            let hasher = std::sync::Arc::clone(&hasher);
            tokio::spawn(async move { hasher.verify(format!("guess {n}"), None).await })
        });
        for run in runs.collect::<Vec<_>>() {
            assert!(!run.await.expect("joined").expect("verified"));
        }
        assert_eq!(hasher.areas_allocated(), 2);
    }

    #[tokio::test]
    async fn beyond_the_queue_requests_are_refused_at_once() {
        let hasher = std::sync::Arc::new(Hasher::new(1));
        let max = hasher.max_pending;
        let runs: Vec<_> = (0..max + 8)
            .map(|n| {
                let hasher = std::sync::Arc::clone(&hasher);
                tokio::spawn(async move { hasher.verify(format!("guess {n}"), None).await })
            })
            .collect();
        let mut busy = 0;
        for run in runs {
            match run.await.expect("joined") {
                Ok(matches) => assert!(!matches),
                Err(Error::Busy { .. }) => busy += 1,
                Err(other) => panic!("unexpected {other}"),
            }
        }
        assert!(busy >= 8, "{busy} refused of {}", max + 8);
    }
}
