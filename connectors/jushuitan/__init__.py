"""Jushuitan (聚水潭) open API: signing, error table, client and the Source adapter."""
