//! Documentation made from the command line's own definition: shell completions
//! (`feedmerge completions SHELL`) and the man page (`feedmerge man`), so neither can fall
//! behind a new command or option.

use std::io::Write;

/// The name the completions complete and the man page is about.
pub const BIN_NAME: &str = "feedmerge";

/// Writes the completion script of `shell` for `command` to `out`.
///
/// # Errors
/// If `out` cannot be written to.
pub fn completions(
    mut command: clap::Command,
    shell: clap_complete::Shell,
    out: &mut impl Write,
) -> std::io::Result<()> {
    // clap_complete panics on a failed write: the script is made in memory, then written.
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut command, BIN_NAME, &mut script);
    out.write_all(&script)?;
    out.flush()
}

/// Writes the man page of `command` (roff, section 1) to `out`: the options, then every
/// subcommand with its description, then the examples from `--help`.
///
/// # Errors
/// If `out` cannot be written to.
pub fn man(command: clap::Command, out: &mut impl Write) -> std::io::Result<()> {
    let mut page = Vec::new();
    clap_mangen::Man::new(command.name(BIN_NAME)).render(&mut page)?;
    out.write_all(&page)?;
    out.flush()
}
