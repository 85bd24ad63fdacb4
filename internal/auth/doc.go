// Package auth is the auth phase: who may reach a route, decided at the
// edge so that the app behind trusts one header and never sees a
// password. One file per method: basic (htpasswd files), forward (an
// external service decides, as nginx's auth_request). identity.go strips
// the identity headers Gatehouse sets from every client request, in every
// spelling an app server may read as the same name.
package auth
