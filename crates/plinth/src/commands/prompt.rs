//! Reading passwords and answers: from standard input for scripts, from the terminal
//! (without echo for secrets) for people.

use std::io::{BufRead, IsTerminal, Read, Write};

use crate::cli::Failure;

/// Reads a secret from standard input: all of it, minus one trailing line break.
pub fn secret_from_stdin(what: &str) -> Result<String, Failure> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .map_err(|error| Failure::runtime(format!("cannot read the {what} from stdin: {error}")))?;
    let secret = text
        .strip_suffix('\n')
        .map(|line| line.strip_suffix('\r').unwrap_or(line))
        .unwrap_or(&text);
    if secret.is_empty() {
        return Err(Failure::runtime(format!("no {what} on stdin")));
    }
    Ok(secret.to_string())
}

/// Asks for a secret on the terminal without echoing it.
pub fn secret_from_terminal(prompt: &str, hint: &str) -> Result<String, Failure> {
    let secret = rpassword::prompt_password(prompt).map_err(|error| {
        Failure::runtime(format!("cannot prompt on a terminal ({error}): {hint}"))
    })?;
    if secret.is_empty() {
        return Err(Failure::runtime("empty answer; nothing done"));
    }
    Ok(secret)
}

/// Asks for a new password twice on the terminal.
pub fn new_password_from_terminal(hint: &str) -> Result<String, Failure> {
    let password = secret_from_terminal("new password: ", hint)?;
    let again = secret_from_terminal("repeat it: ", hint)?;
    if password != again {
        return Err(Failure::runtime("the passwords differ; nothing done"));
    }
    Ok(password)
}

/// Asks a question on stderr and reads one line from standard input.
pub fn line(prompt: &str, hint: &str) -> Result<String, Failure> {
    if !std::io::stdin().is_terminal() {
        return Err(Failure::runtime(format!(
            "cannot prompt: stdin is not a terminal; {hint}"
        )));
    }
    eprint!("{prompt}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .map_err(|error| Failure::runtime(format!("cannot read the answer: {error}")))?;
    let answer = answer.trim();
    if answer.is_empty() {
        return Err(Failure::runtime("empty answer; nothing done"));
    }
    Ok(answer.to_string())
}

/// Returns whether standard input is a terminal (someone could answer a question).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal()
}
