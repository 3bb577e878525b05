//! [`Resolver`]: host names resolved at compile time, so no request waits on DNS.

use std::cell::RefCell;
use std::collections::HashMap;
use std::net::{SocketAddr, ToSocketAddrs};

/// Resolves `host:port` pairs for one compile, or for a series of compiles when the
/// caller keeps it: each pair is looked up once and the answer reused.
///
/// A reload compiles with a fresh resolver, so every name is looked up again; the admin
/// API's writes reuse the running config's resolver, so adding one API does not look up
/// every other API's host again. `Default` is empty.
#[derive(Debug, Default)]
pub struct Resolver {
    answers: RefCell<HashMap<(String, u16), Vec<SocketAddr>>>,
}

impl Resolver {
    /// The addresses of `host` (a name or an IP literal) at `port`, looked up the first
    /// time this resolver is asked.
    ///
    /// # Errors
    /// The lookup failed; a failure is not remembered, so the next compile tries again.
    pub fn resolve(&self, host: &str, port: u16) -> std::io::Result<Vec<SocketAddr>> {
        let key = (host.to_owned(), port);
        if let Some(found) = self.answers.borrow().get(&key) {
            return Ok(found.clone());
        }
        let found: Vec<SocketAddr> = (host, port).to_socket_addrs()?.collect();
        if !found.is_empty() {
            self.answers.borrow_mut().insert(key, found.clone());
        }
        Ok(found)
    }

    /// How many `host:port` pairs are remembered.
    pub fn len(&self) -> usize {
        self.answers.borrow().len()
    }

    /// Whether nothing is remembered yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_remembered_per_host_and_port() {
        let r = Resolver::default();
        let a = r.resolve("127.0.0.1", 80).unwrap();
        assert_eq!(a, ["127.0.0.1:80".parse().unwrap()]);
        r.resolve("127.0.0.1", 80).unwrap();
        r.resolve("127.0.0.1", 81).unwrap();
        assert_eq!(r.len(), 2);
        assert!(r.resolve("no-such-host.invalid", 80).is_err());
        assert_eq!(r.len(), 2, "failures are not remembered");
    }
}
