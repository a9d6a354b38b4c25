"""trailduck"""
