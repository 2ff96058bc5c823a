//! `user=` checks: which accounts a program may run as.

use nix::unistd::{Uid, User};

use crate::LoadContext;

/// The account name of `uid`, or the number when it has none.
fn name_of(uid: u32) -> String {
    match User::from_uid(Uid::from_raw(uid)) {
        Ok(Some(u)) => u.name,
        _ => uid.to_string(),
    }
}

/// Checks `user=VALUE` of `[SECTION]` (`program:x` or `eventlistener:x`) and returns the account's name. The error is the
/// message, without a place.
pub(crate) fn check_user(value: &str, section: &str, ctx: &LoadContext) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        return Err(format!(
            "[{section}] bad value for user: '' (expected an account name)"
        ));
    }
    if value.contains(':') {
        return Err(format!(
            "[{section}] user={value} is not supported: give an account name only \
             (the program runs with that account's own groups)"
        ));
    }
    if value == "root" || value == "0" {
        return Err(format!(
            "[{section}] user={value} is refused: services never run as root"
        ));
    }
    let lookup = if value.bytes().all(|b| b.is_ascii_digit()) {
        match value.parse::<u32>() {
            Ok(uid) => User::from_uid(Uid::from_raw(uid)),
            Err(_) => Ok(None),
        }
    } else {
        User::from_name(value)
    };
    let user = match lookup {
        Ok(Some(u)) => u,
        Ok(None) => return Err(format!("[{section}] user '{value}' does not exist")),
        Err(e) => return Err(format!("[{section}] cannot look up user '{value}': {e}")),
    };
    if user.uid.is_root() {
        return Err(format!(
            "[{section}] user={value} is refused: services never run as root"
        ));
    }
    if user.gid.as_raw() == 0 {
        return Err(format!(
            "[{section}] user={value} is refused: its primary group is root's (gid 0)"
        ));
    }
    if ctx.uid != 0 && user.uid.as_raw() != ctx.uid {
        return Err(format!(
            "[{section}] user={value}: proctord runs as '{}' and can only start \
             services as that user (run it as root to switch users)",
            name_of(ctx.uid)
        ));
    }
    Ok(user.name)
}
