module github.com/coionet/coio/bench

go 1.26.0

require golang.org/x/sys v0.50.0

replace github.com/coionet/coio => ../
