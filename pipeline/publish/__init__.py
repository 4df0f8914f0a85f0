"""A reviewed run as pull requests: replayed, committed, pushed under a lease, opened or updated once per
branch (`publishing`); where it goes (`target`), how it is split (`groups`), what its body says (`body`),
what is on record (`records`), and the pull requests read back (`status`)."""
