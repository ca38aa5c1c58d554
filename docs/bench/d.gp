set terminal pngcairo size 1000,400 font 'DejaVu Sans,10'
set output 'd.png'
set multiplot layout 1,2 title 'd: 16 readers at once, 10 ms round trip, 50 MB/s per connection'
set style data histogram
set style fill solid 0.8 border -1
set boxwidth 0.8
set grid ytics
set yrange [0:*]
set xtics rotate by -20
set ylabel 'aggregate MB/s (median)'
plot 'd.dat' using 2:xtic(1) notitle lc rgb '#1f77b4'
set ylabel 'CPU seconds per GB (process tree)'
plot 'd.dat' using 3:xtic(1) notitle lc rgb '#ff7f0e'
unset multiplot
