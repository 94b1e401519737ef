//! `DELETE auth/sessions` validation as django-allauth answers it (a `ModelMultipleChoiceField`
//! over the user's own sessions), and its all-or-nothing revocation.

use serde_json::{Value, json};

use crate::web_auth::{
    PASSWORD, assert_anonymous, call, codes, error_codes, get_session, login, session_token, signup,
};
use crate::web_util::{TestServer, spawn_web};

/// `DELETE auth/sessions` with `token` and `body`.
fn end(server: &TestServer, token: &str, body: Value) -> crate::web_util::Response {
    call(
        server,
        "DELETE",
        "auth/sessions",
        &[("X-Session-Token", token)],
        Some(body),
    )
}

/// Asserts a 400 with exactly one `sessions` error of `code` and `message`.
fn assert_sessions_error(r: &crate::web_util::Response, code: &str, message: &str) {
    let json = r.assert_envelope(400);
    assert_eq!(
        error_codes(&json),
        codes(&[(code, Some("sessions"))]),
        "{json}"
    );
    assert_eq!(json["errors"][0]["message"], message, "{json}");
}

/// The ids of the sessions `token` lists: (current, others).
fn session_ids(server: &TestServer, token: &str) -> (u64, Vec<u64>) {
    let list = call(
        server,
        "GET",
        "auth/sessions",
        &[("X-Session-Token", token)],
        None,
    )
    .assert_envelope(200);
    let mut current = None;
    let mut others = Vec::new();
    for s in list["data"].as_array().unwrap() {
        let id = s["id"].as_u64().unwrap();
        if s["is_current"] == true {
            current = Some(id);
        } else {
            others.push(id);
        }
    }
    (current.unwrap(), others)
}

fn is_live(server: &TestServer, token: &str) -> bool {
    get_session(server, &[("X-Session-Token", token)]).status == 200
}

#[test]
fn web_end_sessions_missing_or_empty_is_required() {
    let server = spawn_web(&[]);
    let token = session_token(&signup(&server, "req@example.com"));
    for body in [
        json!({}),
        json!({"sessions": null}),
        json!({"sessions": []}),
        json!({"sessions": ""}),
    ] {
        assert_sessions_error(
            &end(&server, &token, body),
            "required",
            "This field is required.",
        );
    }
    assert!(is_live(&server, &token));
}

#[test]
fn web_end_sessions_not_a_list_is_invalid_list() {
    let server = spawn_web(&[]);
    let token = session_token(&signup(&server, "list@example.com"));
    let (current, _) = session_ids(&server, &token);
    for body in [
        json!({"sessions": "all"}),
        json!({"sessions": current}),
        json!({"sessions": current.to_string()}),
        json!({"sessions": true}),
        json!({"sessions": [[current]]}),
    ] {
        assert_sessions_error(
            &end(&server, &token, body),
            "invalid_list",
            "Enter a list of values.",
        );
    }
    assert!(is_live(&server, &token));
}

#[test]
fn web_end_sessions_non_integer_is_invalid_pk_value() {
    let server = spawn_web(&[]);
    let token = session_token(&signup(&server, "pk@example.com"));
    let (current, _) = session_ids(&server, &token);
    assert_sessions_error(
        &end(&server, &token, json!({"sessions": [current, "x"]})),
        "invalid_pk_value",
        "\u{201c}x\u{201d} is not a valid value.",
    );
    assert!(is_live(&server, &token), "nothing ended");
}

#[test]
fn web_end_sessions_foreign_or_unknown_id_is_invalid_choice() {
    let server = spawn_web(&[]);
    let mine = session_token(&signup(&server, "mine@example.com"));
    let theirs = session_token(&signup(&server, "theirs@example.com"));
    let (their_id, _) = session_ids(&server, &theirs);
    let message =
        |v: &str| format!("Select a valid choice. {v} is not one of the available choices.");
    assert_sessions_error(
        &end(&server, &mine, json!({"sessions": [their_id]})),
        "invalid_choice",
        &message(&their_id.to_string()),
    );
    assert!(
        is_live(&server, &theirs),
        "another user's session is not ours to end"
    );
    assert_sessions_error(
        &end(&server, &mine, json!({"sessions": [999_999]})),
        "invalid_choice",
        &message("999999"),
    );
    assert_sessions_error(
        &end(&server, &mine, json!({"sessions": [1.5]})),
        "invalid_choice",
        &message("1.5"),
    );
    assert_sessions_error(
        &end(&server, &mine, json!({"sessions": [null]})),
        "invalid_choice",
        &message("None"),
    );
    assert!(is_live(&server, &mine));
}

/// A mix of the user's own sessions and one that is not theirs ends nothing at all, not even
/// the valid ones or the current one.
#[test]
fn web_end_sessions_is_all_or_nothing() {
    let server = spawn_web(&[]);
    let a = session_token(&signup(&server, "atomic@example.com"));
    let b = session_token(&login(&server, "atomic@example.com", PASSWORD).assert_envelope(200));
    let other = session_token(&signup(&server, "other@example.com"));
    let (current, mine) = session_ids(&server, &a);
    let (foreign, _) = session_ids(&server, &other);
    assert_eq!(mine.len(), 1);
    let r = end(
        &server,
        &a,
        json!({"sessions": [mine[0], current, foreign]}),
    );
    assert_sessions_error(
        &r,
        "invalid_choice",
        &format!("Select a valid choice. {foreign} is not one of the available choices."),
    );
    assert!(
        is_live(&server, &a),
        "current session survives a refused request"
    );
    assert!(
        is_live(&server, &b),
        "own other session survives a refused request"
    );
    assert!(is_live(&server, &other));
    assert_eq!(session_ids(&server, &a).1, mine);

    // The same ids without the foreign one: all end, and with the current one it is the 401
    // anonymous body. A decimal string is the same choice, as in Django.
    let r = end(
        &server,
        &a,
        json!({"sessions": [mine[0].to_string(), current, current]}),
    );
    assert_anonymous(&r);
    assert!(!is_live(&server, &a));
    assert!(!is_live(&server, &b));
    assert!(is_live(&server, &other));
}

#[test]
fn web_end_sessions_of_an_already_ended_session_is_invalid_choice() {
    let server = spawn_web(&[]);
    let a = session_token(&signup(&server, "ended@example.com"));
    let b = session_token(&login(&server, "ended@example.com", PASSWORD).assert_envelope(200));
    let (_, others) = session_ids(&server, &a);
    call(
        &server,
        "DELETE",
        "auth/session",
        &[("X-Session-Token", b.as_str())],
        None,
    );
    assert_sessions_error(
        &end(&server, &a, json!({"sessions": others})),
        "invalid_choice",
        &format!(
            "Select a valid choice. {} is not one of the available choices.",
            others[0]
        ),
    );
    assert!(is_live(&server, &a));
}
