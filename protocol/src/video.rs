//! End-to-end encrypted video frames (being written).
