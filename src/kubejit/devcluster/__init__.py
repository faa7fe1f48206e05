"""A real local Kubernetes control plane (etcd + kube-apiserver + kwok) for tests and the demo.

Start it with :class:`kubejit.devcluster.cluster.DevCluster` or ``kubejit devcluster up|run``.
"""
