//! Test support: a real etcd + kube-apiserver per test binary.
