module tricolor/bench

go 1.19
