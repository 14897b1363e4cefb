"""Outbound: what leaves cardflow. The card bureau's connectors (`bureau`, `bureau_http`, chosen by
`connectors`), delivery of the outbox over SMTP or to a folder (`delivery`; each email built by
`message`), and `preview` of an email.

May import: store, definitions and the ground floor.
"""
