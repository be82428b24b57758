//! Engine snapshots: the whole engine state, versioned and checksummed (see docs/journal.md).
