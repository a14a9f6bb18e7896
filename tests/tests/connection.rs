//! Connection family and dispatch errors, end to end.

use ferrocache_e2e::reply::*;
use ferrocache_e2e::start;

#[test]
fn ping_echo_and_errors() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    assert_eq!(c.cmd(&["ping", "hi"]), bulk("hi"));
    assert_eq!(c.cmd(&["PING", "a", "b"]), err("ERR wrong number of arguments for 'ping' command"));
    assert_eq!(c.cmd(&["ECHO", "x"]), bulk("x"));
    assert_eq!(c.cmd(&["FOO", "a", "b"]), err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' "));
    assert_eq!(c.cmd(&["CLIENT", "NOPE"]), err("ERR unknown subcommand 'NOPE'. Try CLIENT HELP."));
    assert_eq!(c.cmd(&["CLIENT", "SETNAME"]), err("ERR wrong number of arguments for 'client|setname' command"));
    assert_eq!(c.cmd(&["SELECT", "99"]), err("ERR DB index is out of range"));
    assert_eq!(c.cmd(&["QUIT"]), ok());
    assert!(c.is_closed());
}

#[test]
fn auth_is_required_when_configured() {
    let server = ferrocache_e2e::start_with(|c| c.requirepass = Some("s3cret".into()));
    let mut c = server.conn();
    assert_eq!(c.cmd(&["GET", "a"]), err("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["AUTH", "wrong"]), err("WRONGPASS invalid username-password pair or user is disabled."));
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), ok());
    assert_eq!(c.cmd(&["GET", "a"]), nil());
    let mut c2 = server.conn();
    let hello = c2.cmd(&["HELLO", "3", "AUTH", "default", "s3cret"]);
    assert!(matches!(hello, ferrocache_e2e::Frame::Map(_)), "{hello:?}");
    assert_eq!(c2.cmd(&["GET", "a"]), ferrocache_e2e::Frame::Null);
}

#[test]
fn transactions_and_watch() {
    let server = start();
    let mut a = server.conn();
    let mut b = server.conn();
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["SET", "k", "1"]), simple("QUEUED"));
    assert_eq!(a.cmd(&["GET", "k"]), simple("QUEUED"));
    assert_eq!(a.cmd(&["EXEC"]), arr(vec![ok(), bulk("1")]));

    assert_eq!(a.cmd(&["WATCH", "k"]), ok());
    assert_eq!(b.cmd(&["SET", "k", "2"]), ok());
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["SET", "k", "3"]), simple("QUEUED"));
    assert_eq!(a.cmd(&["EXEC"]), ferrocache_e2e::Frame::NullArray);
    assert_eq!(a.cmd(&["GET", "k"]), bulk("2"));

    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["NOSUCH"]), err("ERR unknown command 'NOSUCH', with args beginning with: "));
    assert_eq!(a.cmd(&["EXEC"]), err("EXECABORT Transaction discarded because of previous errors."));
    assert_eq!(a.cmd(&["EXEC"]), err("ERR EXEC without MULTI"));
    assert_eq!(a.cmd(&["DISCARD"]), err("ERR DISCARD without MULTI"));
}
