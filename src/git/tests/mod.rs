//! Tests of the git layer (`crate::git`) on real repositories made in
//! temporary directories with git2, independent of the user's git config.

mod acceptance;
mod fixture;
mod repository;
mod worktree;
