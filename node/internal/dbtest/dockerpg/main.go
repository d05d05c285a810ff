package main

import (
	"fmt"
	"io"
	"os"

	"github.com/ory/dockertest/v3"
	"github.com/ory/dockertest/v3/docker"
)

const (
	image = "postgres"
	tag   = "15-alpine"
	// expiry is when Docker kills a container left behind (seconds).
	expiry = 15 * 60
)

func main() {
	pool, res, err := start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "dockerpg: %v\n", err)
		os.Exit(2)
	}
	fmt.Printf("postgres://flx:flx@%s/postgres?sslmode=disable\n", res.GetHostPort("5432/tcp"))
	_, _ = io.Copy(io.Discard, os.Stdin)
	if err := pool.Purge(res); err != nil {
		fmt.Fprintf(os.Stderr, "dockerpg: purge postgres container: %v\n", err)
		os.Exit(1)
	}
}

// start runs PostgreSQL's image; the caller waits until it answers.
func start() (*dockertest.Pool, *dockertest.Resource, error) {
	pool, err := dockertest.NewPool("")
	if err != nil {
		return nil, nil, fmt.Errorf("docker: %w", err)
	}
	if err := pool.Client.Ping(); err != nil {
		return nil, nil, fmt.Errorf("docker engine not reachable: %w", err)
	}
	res, err := pool.RunWithOptions(&dockertest.RunOptions{
		Repository: image,
		Tag:        tag,
		Env:        []string{"POSTGRES_PASSWORD=flx", "POSTGRES_USER=flx", "POSTGRES_DB=postgres"},
		Cmd:        []string{"postgres", "-c", "fsync=off", "-c", "max_connections=200"},
	}, func(hc *docker.HostConfig) {
		hc.AutoRemove = true
		hc.RestartPolicy = docker.RestartPolicy{Name: "no"}
	})
	if err != nil {
		return nil, nil, fmt.Errorf("docker run %s:%s: %w", image, tag, err)
	}
	_ = res.Expire(expiry)
	return pool, res, nil
}
