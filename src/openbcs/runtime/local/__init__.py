"""The local runtime: real Hyperledger Fabric 2.5 ``orderer`` and ``peer`` processes on this host, a home each."""
