set terminal pngcairo size 900,400 font 'DejaVu Sans,10'
set output 'straggler.png'
set title 'straggler: one 8 MiB range at 5 MB/s, the rest at 50 MB/s per connection, 10 ms round trip'
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set boxwidth 0.9
set grid ytics
set ylabel 'MB/s (median)'
set yrange [0:*]
set xtics rotate by -20
plot 'straggler.dat' using 2:xtic(1) title 'without the straggler' lc rgb '#1f77b4', '' using 3 title 'with the straggler' lc rgb '#d62728'
