package h2

import "strings"

// Common field names in both spellings: lowercase on the wire, canonical
// in http.Header. Looked up so that the usual names cost no allocation.

var commonCanonical = map[string]string{
	"accept":                           "Accept",
	"accept-charset":                   "Accept-Charset",
	"accept-encoding":                  "Accept-Encoding",
	"accept-language":                  "Accept-Language",
	"accept-ranges":                    "Accept-Ranges",
	"age":                              "Age",
	"access-control-allow-credentials": "Access-Control-Allow-Credentials",
	"access-control-allow-headers":     "Access-Control-Allow-Headers",
	"access-control-allow-methods":     "Access-Control-Allow-Methods",
	"access-control-allow-origin":      "Access-Control-Allow-Origin",
	"access-control-expose-headers":    "Access-Control-Expose-Headers",
	"access-control-max-age":           "Access-Control-Max-Age",
	"access-control-request-headers":   "Access-Control-Request-Headers",
	"access-control-request-method":    "Access-Control-Request-Method",
	"allow":                            "Allow",
	"alt-svc":                          "Alt-Svc",
	"authorization":                    "Authorization",
	"cache-control":                    "Cache-Control",
	"content-disposition":              "Content-Disposition",
	"content-encoding":                 "Content-Encoding",
	"content-language":                 "Content-Language",
	"content-length":                   "Content-Length",
	"content-location":                 "Content-Location",
	"content-range":                    "Content-Range",
	"content-security-policy":          "Content-Security-Policy",
	"content-type":                     "Content-Type",
	"cookie":                           "Cookie",
	"date":                             "Date",
	"etag":                             "Etag",
	"expect":                           "Expect",
	"expires":                          "Expires",
	"from":                             "From",
	"host":                             "Host",
	"if-match":                         "If-Match",
	"if-modified-since":                "If-Modified-Since",
	"if-none-match":                    "If-None-Match",
	"if-range":                         "If-Range",
	"if-unmodified-since":              "If-Unmodified-Since",
	"last-modified":                    "Last-Modified",
	"link":                             "Link",
	"location":                         "Location",
	"max-forwards":                     "Max-Forwards",
	"origin":                           "Origin",
	"pragma":                           "Pragma",
	"priority":                         "Priority",
	"proxy-authenticate":               "Proxy-Authenticate",
	"proxy-authorization":              "Proxy-Authorization",
	"range":                            "Range",
	"referer":                          "Referer",
	"referrer-policy":                  "Referrer-Policy",
	"refresh":                          "Refresh",
	"retry-after":                      "Retry-After",
	"sec-fetch-dest":                   "Sec-Fetch-Dest",
	"sec-fetch-mode":                   "Sec-Fetch-Mode",
	"sec-fetch-site":                   "Sec-Fetch-Site",
	"sec-fetch-user":                   "Sec-Fetch-User",
	"sec-ch-ua":                        "Sec-Ch-Ua",
	"sec-ch-ua-mobile":                 "Sec-Ch-Ua-Mobile",
	"sec-ch-ua-platform":               "Sec-Ch-Ua-Platform",
	"sec-websocket-extensions":         "Sec-Websocket-Extensions",
	"sec-websocket-key":                "Sec-Websocket-Key",
	"sec-websocket-protocol":           "Sec-Websocket-Protocol",
	"sec-websocket-version":            "Sec-Websocket-Version",
	"server":                           "Server",
	"set-cookie":                       "Set-Cookie",
	"strict-transport-security":        "Strict-Transport-Security",
	"te":                               "Te",
	"trailer":                          "Trailer",
	"upgrade-insecure-requests":        "Upgrade-Insecure-Requests",
	"user-agent":                       "User-Agent",
	"vary":                             "Vary",
	"via":                              "Via",
	"www-authenticate":                 "Www-Authenticate",
	"x-content-type-options":           "X-Content-Type-Options",
	"x-forwarded-for":                  "X-Forwarded-For",
	"x-forwarded-host":                 "X-Forwarded-Host",
	"x-forwarded-proto":                "X-Forwarded-Proto",
	"x-frame-options":                  "X-Frame-Options",
	"x-real-ip":                        "X-Real-Ip",
	"x-request-id":                     "X-Request-Id",
	"x-xss-protection":                 "X-Xss-Protection",
	"grpc-encoding":                    "Grpc-Encoding",
	"grpc-accept-encoding":             "Grpc-Accept-Encoding",
	"grpc-timeout":                     "Grpc-Timeout",
	"grpc-status":                      "Grpc-Status",
	"grpc-message":                     "Grpc-Message",
	"ratelimit":                        "Ratelimit",
	"ratelimit-policy":                 "Ratelimit-Policy",
}

var commonLower = func() map[string]string {
	m := make(map[string]string, len(commonCanonical))
	for lower, canonical := range commonCanonical {
		m[canonical] = lower
	}
	return m
}()

// lowerName is the wire form of a header key.
func lowerName(k string) string {
	if l, ok := commonLower[k]; ok {
		return l
	}
	return strings.ToLower(k)
}
