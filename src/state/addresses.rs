//! Users' e-mail addresses: allauth's `EmailAddress` rows, folded.
//!
//! Most users have one address, the one they signed up with, unverified and primary. Those
//! users have no entry here at all (the book is implied by the account's e-mail), so a million
//! such users cost nothing; a user's book is written out only once it differs.

use std::collections::HashMap;
use std::hash::BuildHasherDefault;

use serde::{Deserialize, Serialize};

use crate::event::UserId;
use crate::hashing::UserIdHasher;
use crate::state::account::Account;

/// A map keyed by user id.
type UserMap<V> = HashMap<UserId, V, BuildHasherDefault<UserIdHasher>>;

/// One of a user's addresses.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmailAddress {
    /// Normalized (lower-case).
    pub email: String,
    /// Whether the user proved they receive mail there.
    pub verified: bool,
    /// Whether it is the user's primary address (exactly one is).
    pub primary: bool,
}

/// Every user's addresses that differ from the implied one.
///
/// Invariant: a user's book, when present, holds exactly one primary address, and it is the
/// account's `email`; addresses are unique across all books (the state's `by_email` index
/// maps each to its user).
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct AddressBooks {
    books: UserMap<Vec<EmailAddress>>,
}

impl AddressBooks {
    /// `account`'s addresses, primary first.
    pub(crate) fn of(&self, account: &Account) -> Vec<EmailAddress> {
        match self.books.get(&account.id) {
            Some(book) => book.clone(),
            None => vec![implied(account)],
        }
    }

    /// `account`'s address `email`, if it has it.
    pub(crate) fn find(&self, account: &Account, email: &str) -> Option<EmailAddress> {
        match self.books.get(&account.id) {
            Some(book) => book.iter().find(|a| a.email == email).cloned(),
            None => (account.email == email).then(|| implied(account)),
        }
    }

    /// Adds `email`, unverified, to `account`'s book.
    pub(crate) fn add(&mut self, account: &Account, email: &str) {
        let book = self.book_mut(account);
        if !book.iter().any(|a| a.email == email) {
            book.push(EmailAddress {
                email: email.to_owned(),
                verified: false,
                primary: false,
            });
        }
    }

    /// Marks `email` of `account` verified.
    pub(crate) fn verify(&mut self, account: &Account, email: &str) {
        if let Some(a) = self.book_mut(account).iter_mut().find(|a| a.email == email) {
            a.verified = true;
        }
    }

    /// Makes `email` `account`'s primary address, if it has it; answers whether it did. The
    /// caller then sets the account's e-mail.
    pub(crate) fn set_primary(&mut self, account: &Account, email: &str) -> bool {
        let book = self.book_mut(account);
        if !book.iter().any(|a| a.email == email) {
            return false;
        }
        for a in book.iter_mut() {
            a.primary = a.email == email;
        }
        // Primary first, the others in the order they were added.
        book.sort_by_key(|a| !a.primary);
        true
    }

    /// Removes `email` from `account`'s book unless it is the primary; answers whether it did.
    pub(crate) fn remove(&mut self, account: &Account, email: &str) -> bool {
        let book = self.book_mut(account);
        let before = book.len();
        book.retain(|a| a.primary || a.email != email);
        book.len() != before
    }

    /// The books that are written out, for a snapshot, by user id.
    pub(crate) fn explicit(&self) -> Vec<(UserId, Vec<EmailAddress>)> {
        let mut out: Vec<(UserId, Vec<EmailAddress>)> =
            self.books.iter().map(|(u, b)| (*u, b.clone())).collect();
        out.sort_by_key(|(u, _)| *u);
        out
    }

    /// The books of a snapshot.
    pub(crate) fn from_explicit(books: Vec<(UserId, Vec<EmailAddress>)>) -> AddressBooks {
        AddressBooks {
            books: books.into_iter().collect(),
        }
    }

    fn book_mut(&mut self, account: &Account) -> &mut Vec<EmailAddress> {
        self.books
            .entry(account.id)
            .or_insert_with(|| vec![implied(account)])
    }
}

/// The book of a user who never changed it: the sign-up address, unverified and primary.
fn implied(account: &Account) -> EmailAddress {
    EmailAddress {
        email: account.email.clone(),
        verified: false,
        primary: true,
    }
}
