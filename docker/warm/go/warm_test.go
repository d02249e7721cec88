package main

// Built once at image build time so the standard library packages programs use, and testify, are in
// the image's Go build cache (/opt/gocache) and are not recompiled per sample.

import (
	"bufio"
	"bytes"
	"container/heap"
	"container/list"
	"crypto/md5"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"math/rand"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
)

var _ = []interface{}{bufio.NewReader, bytes.NewBuffer, heap.Init, list.New, md5.Sum, json.Marshal,
	errors.New, math.Abs, big.NewInt, rand.Intn, os.Exit, reflect.DeepEqual, regexp.MustCompile,
	sort.Ints, strconv.Itoa, strings.Split, time.Now, unicode.IsUpper}

func TestWarm(t *testing.T) {
	assert.Equal(t, 1, 1)
	fmt.Println("warm")
}
