//! The command line's own machinery, apart from the commands: logging set-up (colour, the
//! progress bar).

pub mod logs;
