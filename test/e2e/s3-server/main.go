// s3-server: an S3-compatible server for the end-to-end tests (gofakes3 with an in-memory
// backend) that, unlike gofakes3 alone, refuses any request whose AWS Signature Version 4
// does not match the one access key it is given, as S3 does (SignatureDoesNotMatch,
// InvalidAccessKeyId, 403). Listens on loopback only.
//
// Usage: s3-server -addr 127.0.0.1:0 -bucket NAME   (access key and secret from the
// environment: S3_SERVER_ACCESS_KEY_ID, S3_SERVER_SECRET_ACCESS_KEY). Prints
// "listening on http://HOST:PORT" once it accepts connections.
package main

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func hmacSHA256(key []byte, data string) []byte {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(data))
	return mac.Sum(nil)
}

// uriEncode is SigV4's encoding: unreserved characters stay, everything else is %XX.
func uriEncode(s string, encodeSlash bool) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b.WriteByte(c)
		case c == '/' && !encodeSlash:
			b.WriteByte(c)
		default:
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

// canonicalQuery sorts the parameters by name, then value, each encoded as SigV4 says.
func canonicalQuery(raw string) string {
	values, _ := url.ParseQuery(raw)
	var pairs []string
	for k, vs := range values {
		for _, v := range vs {
			pairs = append(pairs, uriEncode(k, true)+"="+uriEncode(v, true))
		}
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

// signatureProblem checks the request's Authorization header as S3 does; "" when it holds.
func signatureProblem(r *http.Request, accessKey, secret string) (code, message string) {
	auth := r.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algo) {
		return "AccessDenied", "the request is not signed with AWS Signature Version 4"
	}
	fields := map[string]string{}
	for _, part := range strings.Split(strings.TrimPrefix(auth, algo), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		fields[k] = v
	}
	scope := strings.Split(fields["Credential"], "/")
	if len(scope) != 5 || scope[4] != "aws4_request" {
		return "AuthorizationHeaderMalformed", "bad Credential scope"
	}
	if scope[0] != accessKey {
		return "InvalidAccessKeyId", "the access key id does not exist"
	}
	date := r.Header.Get("X-Amz-Date")
	if !strings.HasPrefix(date, scope[1]) {
		return "AuthorizationHeaderMalformed", "X-Amz-Date does not match the Credential date"
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	var headers strings.Builder
	for _, name := range signed {
		value := r.Header.Get(name)
		if name == "host" {
			value = r.Host
		}
		headers.WriteString(name + ":" + strings.Join(strings.Fields(value), " ") + "\n")
	}
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		return "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
	}
	canonical := strings.Join([]string{r.Method, uriEncode(r.URL.Path, false), canonicalQuery(r.URL.RawQuery), headers.String(), fields["SignedHeaders"], payload}, "\n")
	sum := sha256.Sum256([]byte(canonical))
	toSign := strings.Join([]string{"AWS4-HMAC-SHA256", date, strings.Join(scope[1:], "/"), hex.EncodeToString(sum[:])}, "\n")
	key := hmacSHA256([]byte("AWS4"+secret), scope[1])
	key = hmacSHA256(key, scope[2])
	key = hmacSHA256(key, scope[3])
	key = hmacSHA256(key, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if os.Getenv("S3_SERVER_DEBUG") != "" {
		log.Printf("canonical request:\n%s", canonical)
	}
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return "SignatureDoesNotMatch", "the request signature we calculated does not match the signature you provided"
	}
	return "", ""
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "loopback address to listen on")
	bucket := flag.String("bucket", "", "bucket to create at start")
	flag.Parse()
	accessKey, secret := os.Getenv("S3_SERVER_ACCESS_KEY_ID"), os.Getenv("S3_SERVER_SECRET_ACCESS_KEY")
	if accessKey == "" || secret == "" {
		log.Fatal("s3-server: set S3_SERVER_ACCESS_KEY_ID and S3_SERVER_SECRET_ACCESS_KEY")
	}
	host, _, err := net.SplitHostPort(*addr)
	if err != nil || !net.ParseIP(host).IsLoopback() {
		log.Fatalf("s3-server: -addr %q must be a loopback address", *addr)
	}
	backend := s3mem.New()
	if *bucket != "" {
		if err := backend.CreateBucket(*bucket); err != nil {
			log.Fatal(err)
		}
	}
	s3 := gofakes3.New(backend, gofakes3.WithAutoBucket(false))
	inner := s3.Server()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code, message := signatureProblem(r, accessKey, secret); code != "" {
			log.Printf("refused %s %s: %s", r.Method, r.URL.Path, code)
			w.Header().Set("Content-Type", "application/xml")
			w.WriteHeader(http.StatusForbidden)
			fmt.Fprintf(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>%s</Code><Message>%s</Message></Error>", code, message)
			return
		}
		if sum := r.Header.Get("X-Amz-Content-Sha256"); sum != "UNSIGNED-PAYLOAD" {
			body, err := io.ReadAll(r.Body)
			got := sha256.Sum256(body)
			if err != nil || hex.EncodeToString(got[:]) != sum {
				w.WriteHeader(http.StatusBadRequest)
				fmt.Fprint(w, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>XAmzContentSHA256Mismatch</Code><Message>The provided 'x-amz-content-sha256' header does not match what was computed.</Message></Error>")
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		log.Printf("%s %s?%s", r.Method, r.URL.Path, r.URL.RawQuery)
		inner.ServeHTTP(w, r)
	})
	listener, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("listening on http://%s\n", listener.Addr())
	log.Fatal(http.Serve(listener, handler))
}
