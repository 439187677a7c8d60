//! Device registry: binding devices to accounts, tenant isolation, authorization codes (being written).
