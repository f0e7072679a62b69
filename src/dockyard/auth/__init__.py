"""Authentication (basic, bearer, LDAP, OIDC), the token service, and authorization."""
