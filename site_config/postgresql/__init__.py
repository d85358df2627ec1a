"""The PostgreSQL database backend (DATABASES ENGINE): Django's, with a health check that
costs no round trip."""
